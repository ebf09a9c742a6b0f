// Writes the reports of a finished `pixelpipe build`: the JSON report, JUnit XML for CI and an HTML contact sheet with thumbnails.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import type { BuildReport, CandidateReport, OutputReport } from './build-types.js';
import { renderContactSheet, type ContactSheetThumbnails, type Thumbnail } from './build-report-html.js';
import { renderJunit } from './build-report-junit.js';

/** Absolute paths of the written reports. */
export interface WrittenReports {
  json: string;
  junit: string;
  html: string;
}

/** The longest side of a thumbnail, in pixels. */
const thumbnailSize = 192;
/** Thumbnails made at once: enough to keep sharp's threads busy, few enough that 160 decoded candidates never sit in memory together. */
const thumbnailConcurrency = 4;
const thumbnailFolder = 'thumbs';

/**
 * Writes `build-report.json`, `junit.xml` and `contact-sheet.html` (with its `thumbs/`) into `dir`, creating it.
 * `projectRoot` is where the outputs' paths are relative to; the winners' thumbnails are made from those files.
 */
export async function writeBuildReports(report: BuildReport, options: { dir: string; projectRoot: string }): Promise<WrittenReports> {
  const dir = path.resolve(options.dir);
  await mkdir(path.join(dir, thumbnailFolder), { recursive: true });
  const written = { json: path.join(dir, 'build-report.json'), junit: path.join(dir, 'junit.xml'), html: path.join(dir, 'contact-sheet.html') };

  // JSON.stringify leaves out function-valued fields, which drops every candidate's `load`.
  await writeAtomically(written.json, `${JSON.stringify(report, null, 2)}\n`);
  await writeAtomically(written.junit, renderJunit(report));
  const thumbnails = await makeThumbnails(report, dir, path.resolve(options.projectRoot));
  await writeAtomically(written.html, renderContactSheet(report, thumbnails));
  return written;
}

/** Where a thumbnail's source bytes come from; `undefined` bytes mean the image cannot be had. */
interface ThumbnailSource {
  read: () => Promise<Uint8Array | undefined>;
  store: (thumbnail: Thumbnail) => void;
}

async function makeThumbnails(report: BuildReport, dir: string, projectRoot: string): Promise<ContactSheetThumbnails> {
  const thumbnails: ContactSheetThumbnails = { winners: new Map(), candidates: new Map() };
  const sources: ThumbnailSource[] = [];
  for (const output of report.outputs) {
    if (output.status === 'generated' || output.status === 'cached') sources.push(winnerSource(output, projectRoot, thumbnails));
    for (const candidate of output.candidates) {
      // The winner is shown from the written file (after finish), so its raw candidate image would only repeat it.
      if (!candidate.chosen) sources.push(candidateSource(candidate, thumbnails));
    }
  }

  // Keyed by the source's hash: identical images (a cached output and its record, repeated candidates) are encoded once.
  const byHash = new Map<string, Promise<Thumbnail>>();
  await forEachLimited(sources, thumbnailConcurrency, async (source) => {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await source.read();
    } catch (error) {
      source.store({ kind: 'placeholder', reason: `unreadable: ${describeError(error)}` });
      return;
    }
    if (bytes === undefined) {
      source.store({ kind: 'placeholder', reason: 'no image' });
      return;
    }
    const hash = createHash('sha256').update(bytes).digest('hex');
    let thumbnail = byHash.get(hash);
    if (!thumbnail) {
      thumbnail = writeThumbnail(bytes, hash, dir);
      byHash.set(hash, thumbnail);
    }
    source.store(await thumbnail);
  });

  await removeStaleThumbnails(path.join(dir, thumbnailFolder), new Set(byHash.keys()));
  return thumbnails;
}

function winnerSource(output: OutputReport, projectRoot: string, thumbnails: ContactSheetThumbnails): ThumbnailSource {
  return {
    read: () => readFile(path.resolve(projectRoot, output.path)),
    store: (thumbnail) => thumbnails.winners.set(output, thumbnail),
  };
}

function candidateSource(candidate: CandidateReport, thumbnails: ContactSheetThumbnails): ThumbnailSource {
  return {
    read: async () => (candidate.load ? await candidate.load() : undefined),
    store: (thumbnail) => thumbnails.candidates.set(candidate, thumbnail),
  };
}

/** A small WebP of `bytes` under `thumbs/<sha256>.webp`; bytes sharp cannot decode get a placeholder. */
async function writeThumbnail(bytes: Uint8Array, hash: string, dir: string): Promise<Thumbnail> {
  const name = `${hash}.webp`;
  const file = path.join(dir, thumbnailFolder, name);
  const src = `${thumbnailFolder}/${name}`;
  try {
    // A name is the hash of its source, so a thumbnail left by the last build into this folder is already right.
    const existing = await sharp(file).metadata();
    if (existing.width && existing.height) return { kind: 'image', src, width: existing.width, height: existing.height };
  } catch {
    // Not there yet (or damaged): make it.
  }
  try {
    const { data, info } = await sharp(bytes)
      .resize(thumbnailSize, thumbnailSize, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    await writeAtomically(file, data);
    return { kind: 'image', src, width: info.width, height: info.height };
  } catch (error) {
    return { kind: 'placeholder', reason: `unreadable: ${describeError(error)}` };
  }
}

/** Thumbnails of earlier builds nothing links to any more; only names this module writes are touched. */
async function removeStaleThumbnails(folder: string, kept: Set<string>): Promise<void> {
  for (const name of await readdir(folder)) {
    const match = /^([0-9a-f]{64})\.webp$/.exec(name);
    if (match && !kept.has(match[1]!)) await rm(path.join(folder, name), { force: true });
  }
}

/** Runs `task` on every item, at most `limit` at a time. */
async function forEachLimited<Item>(items: Item[], limit: number, task: (item: Item) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Readers (a CI uploader, a browser refreshing the page) never see a half-written file. */
async function writeAtomically(file: string, content: string | Uint8Array): Promise<void> {
  const temporary = `${file}.${randomUUID()}.tmp`;
  try {
    await writeFile(temporary, content);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

function describeError(error: unknown): string {
  // The bare reason, not the absolute path Node puts in the message, which would leak the machine's layout into a shared artifact.
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return 'file not found';
  return error instanceof Error ? error.message : String(error);
}
