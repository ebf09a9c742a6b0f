// A local HTTP server in the Hugging Face Hub's API shape (model info, tree listing, resolve + CDN redirect), with faults on demand.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, sep } from 'node:path';
import { testData } from './paths.js';

/** The files of a fixture model folder, as a repo's `files`. */
export function fixtureFiles(fixture: string): Record<string, Buffer> {
  const root = testData('fixtures', fixture);
  const files: Record<string, Buffer> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[relative(root, join(entry.parentPath, entry.name)).split(sep).join('/')] = readFileSync(join(entry.parentPath, entry.name));
  }
  return files;
}

export interface FakeHubRepo {
  /** Files at the repo's one commit: path → content. */
  files: Record<string, Buffer | string>;
  /** Files stored with LFS (tree entry carries `lfs.oid` = sha256, resolve redirects to the CDN). Default: every file ≥ 10 kB. */
  lfs?: (path: string, size: number) => boolean;
  /** Commit sha to serve the files at. Default: a sha1 of the repo id and the files' hashes. */
  commit?: string;
  /** Branches and tags, all pointing at the commit. Default `['main']`. */
  refs?: string[];
  /** Model card metadata (`license`, `license_name`, `license_link`). */
  cardData?: Record<string, unknown>;
  tags?: string[];
  /** Files need a valid token; model info and listing stay public, as on the hub. */
  gated?: boolean;
  /** Everything needs a valid token; without one the repo looks absent (401), as on the hub. */
  private?: boolean;
}

export interface RecordedRequest {
  method: string;
  /** Path and query. */
  url: string;
  headers: IncomingHttpHeaders;
}

export interface FakeHubServer {
  /** Base URL to pass as `hubUrl`. */
  url: string;
  /** Every request seen, in order. */
  requests: RecordedRequest[];
  /** Commit sha of a repo. */
  commitOf(repoId: string): string;
  /** The next download of `path` sends headers and `afterBytes` body bytes, then drops the connection. */
  dropConnectionOnce(path: string, afterBytes: number): void;
  /** Answer Range requests with 200 and the whole file, as servers without range support do. */
  ignoreRange: boolean;
  /** Serve `path` with its first byte flipped while the listing keeps the true hash. */
  corrupt(path: string): void;
  close(): Promise<void>;
}

const validTokens = new Set(['hf_test_token']);
const treePageSize = 4;

interface StoredFile {
  path: string;
  content: Buffer;
  sha256: string;
  gitOid: string;
  lfs: boolean;
  pointerSize: number;
}

export async function startFakeHubServer(repos: Record<string, FakeHubRepo>): Promise<FakeHubServer> {
  const stored = new Map<string, { repo: FakeHubRepo; commit: string; files: Map<string, StoredFile> }>();
  for (const [repoId, repo] of Object.entries(repos)) {
    const files = new Map<string, StoredFile>();
    for (const [path, value] of Object.entries(repo.files)) {
      const content = Buffer.isBuffer(value) ? value : Buffer.from(value);
      const sha256 = createHash('sha256').update(content).digest('hex');
      const lfs = (repo.lfs ?? ((_path, size) => size >= 10_000))(path, content.length);
      const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${content.length}\n`;
      files.set(path, { path, content, sha256, gitOid: gitBlobSha1(lfs ? Buffer.from(pointer) : content), lfs, pointerSize: pointer.length });
    }
    const commit = repo.commit ?? createHash('sha1').update(`${repoId}\n${[...files.values()].map((file) => `${file.path}:${file.sha256}`).join('\n')}`).digest('hex');
    stored.set(repoId, { repo, commit, files });
  }
  const drops = new Map<string, number>();
  const corrupted = new Set<string>();
  const requests: RecordedRequest[] = [];

  const server = createServer((request, response) => {
    requests.push({ method: request.method ?? 'GET', url: request.url ?? '/', headers: request.headers });
    try {
      route(request, response);
    } catch (error) {
      sendJson(response, 500, { error: String(error) });
    }
  });

  function route(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', `http://${request.headers.host ?? '127.0.0.1'}`);
    const authorized = validTokens.has((request.headers.authorization ?? '').replace(/^Bearer /, ''));
    const api = /^\/api\/models\/(.+?)\/(revision|tree)\/([^/]+)(?:\/(.*))?$/.exec(url.pathname);
    const resolve = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) return serveBytes(request, response, url.searchParams.get('path') ?? '', findBlob(cdn[1]!));
    const match = api ?? resolve;
    if (!match) return sendJson(response, 404, { error: 'Not found' });
    const repoId = decodeURIComponent(match[1]!);
    const entry = stored.get(repoId);
    if (!entry || (entry.repo.private && !authorized)) {
      // The hub answers 401 for absent and private repos alike unless the caller is authenticated.
      return sendJson(response, authorized ? 404 : 401, { error: 'Repository not found' }, { 'X-Error-Code': 'RepoNotFound' });
    }
    const revision = decodeURIComponent(match[api ? 3 : 2]!);
    const refs = entry.repo.refs ?? ['main'];
    if (revision !== entry.commit && revision !== 'HEAD' && !refs.includes(revision)) {
      return sendJson(response, 404, { error: `Invalid rev id: ${revision}` }, { 'X-Error-Code': 'RevisionNotFound' });
    }
    if (api?.[2] === 'revision') return sendJson(response, 200, modelInfo(repoId, entry, url.searchParams.getAll('expand')));
    if (api) return sendTree(response, url, entry, api[4] ?? '');

    const path = decodeURIComponent(match[3]!);
    const file = entry.files.get(path);
    if (!file) return sendJson(response, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    if (entry.repo.gated && !authorized) {
      return sendJson(response, 401, { error: `Access to model ${repoId} is restricted. You must have access to it and be authenticated to access it. Please log in.` }, { 'X-Error-Code': 'GatedRepo' });
    }
    const common = { 'X-Repo-Commit': entry.commit, ETag: `"${file.gitOid}"` };
    if (file.lfs) {
      // Like the hub: LFS files redirect to a CDN URL; the linked headers describe the real content.
      response.writeHead(302, { ...common, Location: `/cdn/${file.sha256}?path=${encodeURIComponent(path)}`, 'X-Linked-Etag': `"${file.sha256}"`, 'X-Linked-Size': String(file.content.length) });
      response.end();
      return;
    }
    serveBytes(request, response, path, file, common);
  }

  function modelInfo(repoId: string, entry: { repo: FakeHubRepo; commit: string; files: Map<string, StoredFile> }, expand: string[]): Record<string, unknown> {
    const all: Record<string, unknown> = {
      sha: entry.commit,
      private: entry.repo.private ?? false,
      gated: entry.repo.gated ? 'auto' : false,
      downloads: 0,
      likes: 0,
      lastModified: '2024-01-01T00:00:00.000Z',
      pipeline_tag: 'text-to-image',
      tags: entry.repo.tags ?? [],
      cardData: entry.repo.cardData,
      siblings: [...entry.files.keys()].map((rfilename) => ({ rfilename })),
    };
    const fields = expand.length > 0 ? Object.fromEntries(Object.entries(all).filter(([key]) => expand.includes(key))) : all;
    return { _id: createHash('md5').update(repoId).digest('hex').slice(0, 24), id: repoId, ...fields };
  }

  function sendTree(response: ServerResponse, url: URL, entry: { files: Map<string, StoredFile> }, folder: string): void {
    const recursive = url.searchParams.get('recursive') === 'true';
    const prefix = folder ? `${folder.replace(/\/$/, '')}/` : '';
    const items = new Map<string, Record<string, unknown>>();
    for (const file of entry.files.values()) {
      if (!file.path.startsWith(prefix)) continue;
      const rest = file.path.slice(prefix.length).split('/');
      // Directories appear as entries of their own, as in the hub's listing.
      for (let depth = 1; depth < rest.length && (recursive || depth === 1); depth++) {
        const directory = prefix + rest.slice(0, depth).join('/');
        items.set(directory, { type: 'directory', oid: gitBlobSha1(Buffer.from(directory)), size: 0, path: directory });
      }
      if (!recursive && rest.length > 1) continue;
      const lfs = file.lfs ? { lfs: { oid: file.sha256, size: file.content.length, pointerSize: file.pointerSize } } : {};
      items.set(file.path, { type: 'file', oid: file.gitOid, size: file.content.length, ...lfs, path: file.path });
    }
    const sorted = [...items.values()].sort((a, b) => String(a.path).localeCompare(String(b.path)));
    // Paginate with a Link header, as the hub does for long listings.
    const start = Number(url.searchParams.get('cursor') ?? 0);
    const page = sorted.slice(start, start + treePageSize);
    const headers: Record<string, string> = {};
    if (start + treePageSize < sorted.length) {
      const next = new URL(url);
      next.searchParams.set('cursor', String(start + treePageSize));
      headers.Link = `<${next.toString()}>; rel="next"`;
    }
    sendJson(response, 200, page, headers);
  }

  function findBlob(sha256: string): StoredFile | undefined {
    for (const { files } of stored.values()) for (const file of files.values()) if (file.sha256 === sha256) return file;
    return undefined;
  }

  function serveBytes(request: IncomingMessage, response: ServerResponse, path: string, file: StoredFile | undefined, headers: Record<string, string> = {}): void {
    if (!file) return sendJson(response, 404, { error: 'Entry not found' }, { 'X-Error-Code': 'EntryNotFound' });
    let content = file.content;
    if (corrupted.has(path) && content.length > 0) {
      content = Buffer.from(content);
      content[0] = content[0]! ^ 0xff;
    }
    const size = content.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    let status = 200;
    const responseHeaders: Record<string, string> = { ...headers, 'Accept-Ranges': 'bytes', 'Content-Type': 'application/octet-stream' };
    if (range && !fake.ignoreRange) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        response.writeHead(416, { ...responseHeaders, 'Content-Range': `bytes */${size}` });
        response.end();
        return;
      }
      status = 206;
      responseHeaders['Content-Range'] = `bytes ${start}-${end}/${size}`;
    }
    const body = content.subarray(start, end + 1);
    response.writeHead(status, { ...responseHeaders, 'Content-Length': String(body.length) });
    if (request.method === 'HEAD') return void response.end();
    const dropAfter = drops.get(path);
    if (dropAfter !== undefined) {
      drops.delete(path);
      response.write(body.subarray(0, dropAfter), () => response.socket?.destroy());
      return;
    }
    response.end(body);
  }

  const fake: FakeHubServer = {
    url: '',
    requests,
    ignoreRange: false,
    commitOf: (repoId: string) => stored.get(repoId)!.commit,
    dropConnectionOnce: (path: string, afterBytes: number) => void drops.set(path, afterBytes),
    corrupt: (path: string) => void corrupted.add(path),
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((error) => (error ? reject(error) : resolve()));
    }),
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(Buffer.byteLength(text)) });
  response.end(text);
}

/** Git's blob id: sha1 of "blob <size>\0" + content; what the hub lists as `oid` for files kept in git. */
export function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex');
}
