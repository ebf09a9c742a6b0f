// Pulls an ONNX Stable Diffusion export from the Hugging Face Hub into the local cache: resumable, hash-checked, pinned to a commit.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DownloadError } from '../../spec/errors/download-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createHubClient } from './hub-client.js';
import { isCommitSha, isSnapshotComplete, parseModelRef, readManifest, snapshotFolder, writeManifest, writeRef, type CacheManifest } from './model-cache.js';
import { findRegistryEntry } from './model-registry.js';
import { selectPipelineFiles } from './pipeline-files.js';

export interface PullModelOptions {
  /** `owner/name` (optionally `@revision`) or a registry alias such as `sd-turbo`. */
  repoId: string;
  /** Branch, tag or commit sha. Defaults to the registry entry's pinned commit, else `main`. */
  revision?: string;
  /** Root of the model cache. */
  cacheDir: string;
  /** Hub endpoint; defaults to https://huggingface.co. */
  hubUrl?: string;
  /** Token (`hf_...`) for gated or private repos. */
  accessToken?: string;
  /** Injected fetch (tests, proxies). */
  fetch?: typeof fetch;
  /** Called as bytes arrive and as each file is found already cached. */
  onProgress?: (progress: PullProgress) => void;
  /** Cancels the pull; partial files are kept for the next pull to resume. */
  signal?: AbortSignal;
  /** Retries of one file after a dropped connection or a 5xx, each resuming where the last stopped. Default 3. */
  maxRetries?: number;
  /** Wait before the first retry, doubled after each. Default 1000 ms. */
  retryDelayMs?: number;
}

export interface PullProgress {
  /** File being fetched, path inside the repo. */
  path: string;
  fileBytes: number;
  fileSize: number;
  /** Bytes on disk across all files of the pull. */
  bytes: number;
  totalBytes: number;
  fileIndex: number;
  fileCount: number;
}

export interface PulledFile {
  path: string;
  size: number;
  sha256?: string;
  /** `cached`: already complete on disk; `resumed`: continued from a part file; `downloaded`: fetched from byte 0. */
  status: 'cached' | 'resumed' | 'downloaded';
}

export interface PullResult {
  repoId: string;
  /** The Optimum model folder to load. */
  folder: string;
  /** Commit sha pulled. */
  revision: string;
  files: PulledFile[];
  /** Repo files left on the hub (PyTorch weights, other precisions, extra components, images). */
  skipped: string[];
  /** Licence from the model card; show it to the user. */
  license?: string;
  licenseLink?: string;
  /** Bytes received over the network by this call, retried attempts included. */
  downloadedBytes: number;
}

export async function pullModel({
  repoId: requested,
  revision: requestedRevision,
  cacheDir,
  hubUrl,
  accessToken,
  fetch,
  onProgress,
  signal,
  maxRetries = 3,
  retryDelayMs = 1000,
}: PullModelOptions): Promise<PullResult> {
  const pinned = findRegistryEntry(requested);
  const reference = pinned ? { repoId: pinned.repoId } : parseModelRef(requested);
  const repoId = reference.repoId;
  const revision = requestedRevision ?? reference.revision ?? pinned?.revision ?? 'main';
  parseModelRef(`${repoId}@${revision}`);

  // A pinned commit that is already complete needs no network at all.
  if (isCommitSha(revision)) {
    const cached = await completeSnapshot(cacheDir, repoId, revision);
    if (cached) return cachedResult(cacheDir, cached);
  }

  // Resolve the revision to a commit and read the licence.
  const client = createHubClient({ hubUrl, accessToken, fetch, signal });
  const info = await client.modelInfo(repoId, revision);
  const commit = info.commit;
  const folder = snapshotFolder(cacheDir, repoId, commit);
  const cached = await completeSnapshot(cacheDir, repoId, commit);
  if (cached) {
    if (!isCommitSha(revision)) await writeRef(cacheDir, repoId, revision, commit);
    return cachedResult(cacheDir, cached);
  }

  // Choose the files the pipeline loads.
  const selection = selectPipelineFiles(await client.listFiles(repoId, commit));
  if (selection.missing.length > 0) {
    throw new InvalidArgumentError({
      argument: 'repoId',
      value: `${repoId}@${revision}`,
      message: `${repoId}@${revision} is not an ONNX export in Optimum's layout: it lacks ${selection.missing.join(', ')}. Pick an ONNX repo (see \`pixelpipe models\`) or export one with \`optimum-cli export onnx\`.`,
    });
  }
  for (const file of selection.selected) checkRelativePath(file.path, repoId);
  const manifest: CacheManifest = {
    repoId,
    revision: commit,
    requestedRevision: revision,
    hubUrl: client.hubUrl,
    license: info.license,
    licenseLink: info.licenseLink,
    files: selection.selected.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
    skipped: selection.skipped.map((file) => file.path),
    startedAt: new Date().toISOString(),
  };
  await writeManifest(cacheDir, manifest);

  // Download, smallest first so a refused token or a wrong layout shows up before the gigabytes.
  const order = [...selection.selected].sort((a, b) => a.size - b.size);
  const totalBytes = order.reduce((sum, file) => sum + file.size, 0);
  const files: PulledFile[] = [];
  let doneBytes = 0;
  let downloadedBytes = 0;
  for (const [fileIndex, file] of order.entries()) {
    const destination = join(folder, ...file.path.split('/'));
    const report = (fileBytes: number) =>
      onProgress?.({ path: file.path, fileBytes, fileSize: file.size, bytes: doneBytes + fileBytes, totalBytes, fileIndex, fileCount: order.length });
    const onDisk = await stat(destination).then((found) => found.size, () => -1);
    if (onDisk === file.size) {
      files.push({ path: file.path, size: file.size, sha256: file.sha256, status: 'cached' });
      report(file.size);
    } else {
      if (onDisk !== -1) await rm(destination, { force: true });
      // Count what every attempt received, failed ones included, for an honest "downloaded" figure.
      let attemptBytes = 0;
      const onBytes = (bytesOnDisk: number, bytesReceived?: number) => {
        if (bytesReceived !== undefined) attemptBytes = bytesReceived;
        report(bytesOnDisk);
      };
      const attempt = async () => {
        attemptBytes = 0;
        try {
          return await client.downloadFile({ repoId, commit, file, destination, onBytes });
        } finally {
          downloadedBytes += attemptBytes;
        }
      };
      const { resumedFrom } = await downloadWithRetries(attempt, { maxRetries, retryDelayMs, signal });
      files.push({ path: file.path, size: file.size, sha256: file.sha256, status: resumedFrom > 0 ? 'resumed' : 'downloaded' });
    }
    doneBytes += file.size;
  }

  // Mark complete only after every file is verified, then point the branch or tag at the commit.
  await writeManifest(cacheDir, { ...manifest, completedAt: new Date().toISOString() });
  if (!isCommitSha(revision)) await writeRef(cacheDir, repoId, revision, commit);
  return {
    repoId,
    folder,
    revision: commit,
    files: files.sort((a, b) => (a.path < b.path ? -1 : 1)),
    skipped: manifest.skipped,
    license: info.license,
    licenseLink: info.licenseLink,
    downloadedBytes,
  };
}

async function downloadWithRetries<T>(download: () => Promise<T>, { maxRetries, retryDelayMs, signal }: { maxRetries: number; retryDelayMs: number; signal?: AbortSignal }): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await download();
    } catch (error) {
      if (!DownloadError.isInstance(error) || !error.isRetryable || attempt >= maxRetries || signal?.aborted) throw error;
      await sleep(retryDelayMs * 2 ** attempt, undefined, { signal });
    }
  }
}

async function completeSnapshot(cacheDir: string, repoId: string, commit: string): Promise<CacheManifest | undefined> {
  const manifest = await readManifest(cacheDir, repoId, commit);
  return manifest && (await isSnapshotComplete(cacheDir, manifest)) ? manifest : undefined;
}

function cachedResult(cacheDir: string, manifest: CacheManifest): PullResult {
  return {
    repoId: manifest.repoId,
    folder: snapshotFolder(cacheDir, manifest.repoId, manifest.revision),
    revision: manifest.revision,
    files: manifest.files.map((file) => ({ ...file, status: 'cached' as const })),
    skipped: manifest.skipped,
    license: manifest.license,
    licenseLink: manifest.licenseLink,
    downloadedBytes: 0,
  };
}

/** A listing from a hostile or broken hub must not write outside the snapshot folder. */
function checkRelativePath(path: string, repoId: string): void {
  const segments = path.split('/');
  if (/^[a-zA-Z]:/.test(path) || path.includes('\\') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new DownloadError({ reason: 'integrity', repoId, path, message: `The hub listed an unsafe file path "${path}" in ${repoId}; refusing to write it.` });
  }
}
