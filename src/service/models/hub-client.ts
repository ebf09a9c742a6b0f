// Talks to the Hugging Face Hub: model info (commit, licence), file listing with sizes and hashes, one resumable file download.
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { HubApiError, listFiles, modelInfo } from '@huggingface/hub';
import { DownloadError } from '../../spec/errors/download-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export const defaultHubUrl = 'https://huggingface.co';

export interface HubClientConfig {
  /** Hub endpoint; a mirror or a local test server. Defaults to https://huggingface.co. */
  hubUrl?: string;
  /** Access token (`hf_...`) for gated or private repos. */
  accessToken?: string;
  /** Injected fetch (tests, proxies). Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Cancels every request this client makes. */
  signal?: AbortSignal;
}

export interface HubModelInfo {
  repoId: string;
  /** The commit sha the asked-for revision points at. */
  commit: string;
  /** Licence from the model card (`license`, or `license_name` when it is `other`), else from a `license:` tag. */
  license?: string;
  /** `license_link` from the model card, when given. */
  licenseLink?: string;
  gated: false | 'auto' | 'manual';
  private: boolean;
  /** The model card's metadata as the hub gives it (`instance_prompt`, `base_model`, …); empty without a card. */
  cardData: Record<string, unknown>;
}

export interface HubFile {
  /** Path inside the repository, `/`-separated. */
  path: string;
  size: number;
  /** SHA-256 of the content, for LFS (and Xet) files: the tree listing's `lfs.oid`. */
  sha256?: string;
  /** Git blob sha1 of the content, for files stored in git itself. */
  gitOid?: string;
}

export interface FileDownloadRequest {
  repoId: string;
  commit: string;
  file: HubFile;
  /** Final path on disk; bytes go to `<destination>.part` until verified. */
  destination: string;
  /** Called as bytes land on disk, with the file's byte count so far and the bytes this call has received. */
  onBytes?: (bytesOnDisk: number, bytesReceived?: number) => void;
}

export interface FileDownloadResult {
  /** Size of the part file the download continued from; 0 for a fresh download. */
  resumedFrom: number;
  /** Bytes received in this call. */
  fetchedBytes: number;
}

export type HubClient = ReturnType<typeof createHubClient>;

export function createHubClient({ hubUrl = defaultHubUrl, accessToken, fetch: fetchImpl = globalThis.fetch, signal }: HubClientConfig = {}) {
  const baseUrl = hubUrl.replace(/\/+$/, '');
  if (accessToken !== undefined && !accessToken.startsWith('hf_')) {
    throw new InvalidArgumentError({
      argument: 'accessToken',
      value: `${accessToken.slice(0, 3)}…`,
      message: '`accessToken` must be a Hugging Face token starting with "hf_" (create one at https://huggingface.co/settings/tokens)',
    });
  }
  // @huggingface/hub takes no AbortSignal, so the signal rides along inside the fetch it is given.
  const hubFetch: typeof fetch = (input, init) => fetchImpl(input, { ...init, signal: init?.signal ?? signal });
  const credentials = { hubUrl: baseUrl, accessToken, fetch: hubFetch };

  async function getModelInfo(repoId: string, revision: string): Promise<HubModelInfo> {
    const info = await callHub({ repoId, revision }, () =>
      modelInfo({ ...credentials, name: repoId, revision, additionalFields: ['sha', 'cardData', 'tags'] }),
    );
    if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) {
      throw new DownloadError({ reason: 'http', repoId, revision, message: `The hub at ${baseUrl} gave no commit sha for ${repoId}@${revision}; is hubUrl a Hugging Face Hub?` });
    }
    const card = info.cardData ?? {};
    const cardLicense = Array.isArray(card.license) ? card.license.join(', ') : card.license;
    const tagLicense = info.tags?.find((tag) => tag.startsWith('license:'))?.slice('license:'.length);
    const license = cardLicense === 'other' && card.license_name ? card.license_name : (cardLicense ?? tagLicense);
    return { repoId, commit: info.sha, license, licenseLink: card.license_link, gated: info.gated ?? false, private: info.private ?? false, cardData: card as Record<string, unknown> };
  }

  /** Every file of the repository at `commit`, recursively, with size and hash. */
  async function getFiles(repoId: string, commit: string): Promise<HubFile[]> {
    return callHub({ repoId, revision: commit }, async () => {
      const files: HubFile[] = [];
      for await (const entry of listFiles({ ...credentials, repo: { type: 'model', name: repoId }, revision: commit, recursive: true })) {
        if (entry.type !== 'file') continue;
        // A git oid is the content's sha1 only for files kept in git; for LFS and Xet files it hashes the pointer.
        const inGit = !entry.lfs && !entry.xetHash;
        files.push({ path: entry.path, size: entry.size, sha256: entry.lfs?.oid, gitOid: inGit ? entry.oid : undefined });
      }
      return files;
    });
  }

  /**
   * Streams one file to disk, continuing `<destination>.part` with a Range request, then checks size and hash
   * and renames it into place. Written by hand: @huggingface/hub's `downloadFileToCacheDir` streams to disk
   * but always restarts its `.incomplete` file from byte 0 and checks no hash; `downloadFile` returns a lazy
   * Blob whose `slice(offset).stream()` does send a Range, but takes a 200 answer as if it were the slice (a
   * server that ignores Range would corrupt the part) and reports failures as bare message strings, so a
   * dropped connection cannot be told from a refusal. Multi-GB UNet weights need resume and verification.
   */
  async function downloadFile({ repoId, commit, file, destination, onBytes }: FileDownloadRequest): Promise<FileDownloadResult> {
    const partPath = `${destination}.part`;
    const url = `${baseUrl}/${repoId}/resolve/${encodeURIComponent(commit)}/${file.path.split('/').map(encodeURIComponent).join('/')}`;
    const context = { repoId, revision: commit, path: file.path, url };
    await mkdir(dirname(destination), { recursive: true });

    let offset = await fileSize(partPath);
    if (offset > file.size) {
      await rm(partPath, { force: true });
      offset = 0;
    }
    let fetchedBytes = 0;
    let resumedFrom = offset;
    if (offset < file.size || file.size === 0) {
      const headers: Record<string, string> = {};
      if (accessToken) headers.Authorization = `Bearer ${accessToken}`;
      if (offset > 0) headers.Range = `bytes=${offset}-`;
      let response = await request(url, headers, context);
      if (response.status === 416 && offset > 0) {
        // The part no longer matches what the server holds: start again.
        await response.body?.cancel();
        await rm(partPath, { force: true });
        offset = 0;
        delete headers.Range;
        response = await request(url, headers, context);
      }
      if (!response.ok) throw await statusError(response, context);
      if (offset > 0 && response.status === 206) {
        const start = Number(/^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1]);
        if (start !== offset) throw new DownloadError({ ...context, reason: 'http', statusCode: 206, message: `The hub answered a request for ${file.path} from byte ${offset} with range "${response.headers.get('content-range')}"; delete ${partPath} and pull again.` });
      } else {
        offset = 0; // a 200 is the whole file: the server ignored Range, so the part is rewritten from byte 0
      }
      resumedFrom = offset;
      fetchedBytes = await writeBody(response, partPath, offset, (received) => onBytes?.(offset + received, received), context, signal);
    }
    await verify(file, partPath, context);
    await rename(partPath, destination);
    onBytes?.(file.size);
    return { resumedFrom, fetchedBytes };
  }

  async function request(url: string, headers: Record<string, string>, context: ErrorContext): Promise<Response> {
    try {
      return await hubFetch(url, { headers, redirect: 'follow' });
    } catch (error) {
      throw networkError(error, context, `Could not reach ${url}`, signal, unreachableHubHelp);
    }
  }

  async function callHub<T>(context: ErrorContext, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof HubApiError) {
        throw describeStatus(error.statusCode, undefined, { ...context, url: error.url }, error.message, error);
      }
      throw networkError(error, context, `Could not reach ${baseUrl}`, signal, unreachableHubHelp);
    }
  }

  async function statusError(response: Response, context: ErrorContext): Promise<DownloadError> {
    const body = await response.text().catch(() => '');
    let serverMessage = response.headers.get('x-error-message') ?? '';
    try {
      serverMessage ||= (JSON.parse(body) as { error?: string }).error ?? '';
    } catch {
      serverMessage ||= body.slice(0, 200);
    }
    return describeStatus(response.status, response.headers.get('x-error-code') ?? undefined, context, serverMessage);
  }

  function describeStatus(statusCode: number, errorCode: string | undefined, context: ErrorContext, serverMessage: string, cause?: unknown): DownloadError {
    const { repoId, revision, path } = context;
    const target = path ? `${path} in ${repoId}@${revision}` : `${repoId}@${revision}`;
    const said = serverMessage ? ` The hub said: ${serverMessage}` : '';
    const details = { ...context, statusCode, cause };
    if (statusCode === 401 || statusCode === 403) {
      return new DownloadError({
        ...details,
        reason: 'unauthorized',
        message: `The hub refused access to ${target} (HTTP ${statusCode}): the repo may be gated or private${statusCode === 401 ? ', or may not exist' : ''}. Accept its terms at ${baseUrl}/${repoId} if it is gated, then set HF_TOKEN to an access token (hf_...) that can read it.${said}`,
      });
    }
    if (statusCode === 404) {
      const message =
        errorCode === 'EntryNotFound' && path
          ? `${path} was not found in ${repoId} at revision ${revision} on ${baseUrl} (HTTP 404).`
          : `Model ${repoId} at revision ${revision} was not found on ${baseUrl} (HTTP 404): check the repo id and the revision (branch, tag or commit sha).`;
      return new DownloadError({ ...details, reason: 'not-found', message: message + said });
    }
    return new DownloadError({ ...details, reason: 'http', message: `The hub answered HTTP ${statusCode} for ${target}.${said}` });
  }

  return { hubUrl: baseUrl, modelInfo: getModelInfo, listFiles: getFiles, downloadFile };
}

interface ErrorContext {
  repoId: string;
  revision: string;
  path?: string;
  url?: string;
}

/** Appends the body to the part file chunk by chunk, so whatever arrived before a dropped connection is on disk to resume from. */
async function writeBody(
  response: Response,
  partPath: string,
  offset: number,
  onReceived: (bytes: number) => void,
  context: ErrorContext,
  signal: AbortSignal | undefined,
): Promise<number> {
  let received = 0;
  if (!response.body) return received;
  const handle = await open(partPath, offset > 0 ? 'a' : 'w');
  let writeError: unknown;
  try {
    for await (const chunk of Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>) as AsyncIterable<Buffer>) {
      try {
        await handle.write(chunk);
      } catch (error) {
        writeError = error; // a local disk problem (full, read-only), not the network's
        break;
      }
      received += chunk.length;
      onReceived(received);
    }
  } catch (error) {
    throw networkError(error, context, `The download of ${context.path} stopped after ${offset + received} bytes; ${partPath} is kept, so pulling again resumes it`, signal);
  } finally {
    await handle.close();
  }
  if (writeError) throw writeError;
  return received;
}

async function verify(file: HubFile, partPath: string, context: ErrorContext): Promise<void> {
  const size = await fileSize(partPath);
  if (size < file.size) {
    throw new DownloadError({ ...context, reason: 'network', message: `The connection closed after ${size} of ${file.size} bytes of ${file.path}; ${partPath} is kept, so pulling again resumes it.` });
  }
  const sizeMismatch = size > file.size;
  let expected = file.sha256;
  let hash: Hash | undefined;
  if (!sizeMismatch && file.sha256) hash = createHash('sha256');
  else if (!sizeMismatch && file.gitOid) {
    expected = file.gitOid;
    hash = createHash('sha1').update(`blob ${size}\0`);
  }
  if (hash) for await (const chunk of createReadStream(partPath)) hash.update(chunk as Buffer);
  const actual = hash?.digest('hex');
  if (!sizeMismatch && actual === expected) return;
  await rm(partPath, { force: true });
  const message = sizeMismatch
    ? `${file.path} from ${context.repoId}@${context.revision} is ${size} bytes, but the hub lists ${file.size}; the partial file was deleted, pull again to download it afresh.`
    : `${file.path} from ${context.repoId}@${context.revision} failed its ${file.sha256 ? 'SHA-256' : 'git sha1'} check: expected ${expected}, got ${actual}; the partial file was deleted, pull again to download it afresh.`;
  throw new DownloadError({ ...context, reason: 'integrity', message });
}

/**
 * What to do when the hub cannot be reached at all: most often a first run offline or behind a
 * firewall, where pulling the default model is the first thing that happens.
 */
export const unreachableHubHelp =
  'To go on without it: pass `--model` (the `model` option) a local model folder in the Optimum ONNX layout; ' +
  'or set PIXELPIPE_HUB_URL (or HF_ENDPOINT) to a Hugging Face mirror this machine can reach; ' +
  'or use a hosted model with its API key, e.g. `--model openai:gpt-image-1` with OPENAI_API_KEY set (`pixelpipe models --providers` lists them).';

/** Wraps a failed connection as a retryable DownloadError (with `help` after the reason); cancellation and our own errors pass through. */
function networkError(error: unknown, context: ErrorContext, what: string, signal: AbortSignal | undefined, help?: string): unknown {
  if (signal?.aborted) return signal.reason;
  if (DownloadError.isInstance(error) || InvalidArgumentError.isInstance(error)) return error;
  if (error instanceof Error && error.name === 'AbortError') return error;
  const detail = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
  return new DownloadError({ ...context, reason: 'network', message: `${what}: ${detail}.${help ? ` ${help}` : ''}`, cause: error });
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}
