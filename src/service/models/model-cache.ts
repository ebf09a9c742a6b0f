// The local model cache: one folder per repo and commit, refs for branches and tags, and a manifest that says when a pull is complete.
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/*
 * Layout. Folder names follow the Hugging Face cache, but files are plain files rather than symlinks into
 * blobs/, so a snapshot folder is an ordinary Optimum model folder that the engine opens and users can copy.
 *
 *   <cacheDir>/models--<owner>--<name>/
 *     refs/<branch or tag>       the commit sha it pointed at when last pulled
 *     snapshots/<commit>/        model_index.json, unet/model.onnx, ... (<file>.part while downloading)
 *     manifests/<commit>.json    the files the pull planned, the licence, and completedAt once all are verified
 */

export interface ModelRef {
  /** `owner/name` on the hub. */
  repoId: string;
  /** Branch, tag or commit sha; undefined means the default (`main`, or a registry entry's pinned commit). */
  revision?: string;
}

export interface CacheManifestFile {
  path: string;
  size: number;
  sha256?: string;
}

export interface CacheManifest {
  repoId: string;
  /** Commit sha of the snapshot. */
  revision: string;
  /** What the caller asked for (branch, tag or sha). */
  requestedRevision: string;
  hubUrl: string;
  license?: string;
  licenseLink?: string;
  files: CacheManifestFile[];
  /** Repo files the pull left on the hub. */
  skipped: string[];
  startedAt: string;
  /** Set once every file is downloaded and verified. */
  completedAt?: string;
}

export interface CachedModel {
  repoId: string;
  /** Commit sha. */
  revision: string;
  /** The Optimum model folder. */
  folder: string;
  /** Bytes on disk, partial downloads included. */
  sizeBytes: number;
  /** Every planned file present with its listed size. */
  complete: boolean;
  license?: string;
  /** Branches and tags that last resolved to this commit. */
  refs: string[];
}

const repoIdPattern = /^(?:[\w.-]+\/)?[\w.-]{1,96}$/;

/** `owner/name` as the hub allows it: each part starts with a letter, digit or `_`, and `..` and `--` never appear. */
export function isHubRepoId(repoId: string): boolean {
  return /^[\w][\w.-]*\/[\w][\w.-]{0,95}$/.test(repoId) && !repoId.includes('..') && !repoId.includes('--');
}

export function isCommitSha(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/** Parses `owner/name[@revision]`. */
export function parseModelRef(reference: string): ModelRef {
  const at = reference.indexOf('@');
  const repoId = at === -1 ? reference : reference.slice(0, at);
  const revision = at === -1 ? undefined : reference.slice(at + 1);
  if (!repoIdPattern.test(repoId) || repoId.includes('--') || repoId.includes('..')) {
    throw new InvalidArgumentError({ argument: 'repoId', value: reference, message: `\`repoId\` must look like "owner/name" or "owner/name@revision", got "${reference}"` });
  }
  if (revision !== undefined) checkRevision(revision, reference);
  return revision === undefined ? { repoId } : { repoId, revision };
}

export function repoFolder(cacheDir: string, repoId: string): string {
  return join(cacheDir, `models--${repoId.split('/').join('--')}`);
}

export function snapshotFolder(cacheDir: string, repoId: string, commit: string): string {
  return join(repoFolder(cacheDir, repoId), 'snapshots', commit);
}

export async function readManifest(cacheDir: string, repoId: string, commit: string): Promise<CacheManifest | undefined> {
  try {
    return JSON.parse(await readFile(manifestPath(cacheDir, repoId, commit), 'utf8')) as CacheManifest;
  } catch {
    return undefined;
  }
}

export async function writeManifest(cacheDir: string, manifest: CacheManifest): Promise<void> {
  await writeAtomically(manifestPath(cacheDir, manifest.repoId, manifest.revision), `${JSON.stringify(manifest, null, 2)}\n`);
}

export async function writeRef(cacheDir: string, repoId: string, ref: string, commit: string): Promise<void> {
  checkRevision(ref);
  await writeAtomically(join(repoFolder(cacheDir, repoId), 'refs', ...ref.split('/')), commit);
}

export async function readRef(cacheDir: string, repoId: string, ref: string): Promise<string | undefined> {
  checkRevision(ref);
  try {
    const commit = (await readFile(join(repoFolder(cacheDir, repoId), 'refs', ...ref.split('/')), 'utf8')).trim();
    return isCommitSha(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** True when the manifest is marked complete and every file it lists is on disk with its listed size. */
export async function isSnapshotComplete(cacheDir: string, manifest: CacheManifest): Promise<boolean> {
  if (!manifest.completedAt) return false;
  const folder = snapshotFolder(cacheDir, manifest.repoId, manifest.revision);
  for (const file of manifest.files) {
    const size = await stat(join(folder, ...file.path.split('/'))).then((found) => found.size, () => -1);
    if (size !== file.size) return false;
  }
  return true;
}

/** Finds `owner/name[@revision]` in the cache without network: a sha directly, a branch or tag through refs/. */
export async function resolveCachedModel(cacheDir: string, reference: string | ModelRef): Promise<CachedModel | undefined> {
  const { repoId, revision = 'main' } = typeof reference === 'string' ? parseModelRef(reference) : reference;
  const commit = isCommitSha(revision) ? revision : await readRef(cacheDir, repoId, revision);
  if (!commit) return undefined;
  const models = await listRepo(cacheDir, repoFolder(cacheDir, repoId));
  return models.find((model) => model.revision === commit);
}

/** Every snapshot in the cache, complete or not, sorted by repo id then commit. */
export async function listCachedModels(cacheDir: string): Promise<CachedModel[]> {
  const entries = await readdir(cacheDir, { withFileTypes: true }).catch(() => []);
  const models: CachedModel[] = [];
  for (const entry of entries) {
    if (entry.isDirectory() && entry.name.startsWith('models--')) models.push(...(await listRepo(cacheDir, join(cacheDir, entry.name))));
  }
  return models.sort((a, b) => a.repoId.localeCompare(b.repoId) || a.revision.localeCompare(b.revision));
}

async function listRepo(cacheDir: string, folder: string): Promise<CachedModel[]> {
  const repoIdFromFolder = folder.slice(folder.lastIndexOf(sep) + 1).split('--').slice(1).join('/');
  const commits = (await readdir(join(folder, 'snapshots'), { withFileTypes: true }).catch(() => []))
    .filter((entry) => entry.isDirectory() && isCommitSha(entry.name))
    .map((entry) => entry.name);
  const refs = await readRefs(join(folder, 'refs'));
  const models: CachedModel[] = [];
  for (const commit of commits) {
    const manifest = await readManifest(cacheDir, repoIdFromFolder, commit);
    const snapshot = join(folder, 'snapshots', commit);
    models.push({
      repoId: manifest?.repoId ?? repoIdFromFolder,
      revision: commit,
      folder: snapshot,
      sizeBytes: await folderSize(snapshot),
      complete: manifest ? await isSnapshotComplete(cacheDir, manifest) : false,
      license: manifest?.license,
      refs: refs.filter((ref) => ref.commit === commit).map((ref) => ref.name),
    });
  }
  return models;
}

async function readRefs(refsFolder: string): Promise<{ name: string; commit: string }[]> {
  const entries = await readdir(refsFolder, { recursive: true, withFileTypes: true }).catch(() => []);
  const refs: { name: string; commit: string }[] = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    const commit = (await readFile(path, 'utf8').catch(() => '')).trim();
    if (isCommitSha(commit)) refs.push({ name: relative(refsFolder, path).split(sep).join('/'), commit });
  }
  return refs.sort((a, b) => a.name.localeCompare(b.name));
}

async function folderSize(folder: string): Promise<number> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true }).catch(() => []);
  let total = 0;
  for (const entry of entries) {
    if (entry.isFile()) total += await stat(join(entry.parentPath ?? entry.path, entry.name)).then((found) => found.size, () => 0);
  }
  return total;
}

function manifestPath(cacheDir: string, repoId: string, commit: string): string {
  return join(repoFolder(cacheDir, repoId), 'manifests', `${commit}.json`);
}

function checkRevision(revision: string, reference = revision): void {
  const segments = revision.split('/');
  if (revision === '' || revision.includes('\\') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new InvalidArgumentError({ argument: 'revision', value: revision, message: `\`revision\` must be a branch, tag or commit sha, got "${revision}"${reference === revision ? '' : ` in "${reference}"`}` });
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}
