// The LoRA folder: `NAME.safetensors` beside `NAME.json` (trigger word, provenance, hashes); register and list.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';

/** What `NAME.json` holds for a LoRA pulled from the hub (`pixelpipe lora pull`). */
export interface HubLoraRecord {
  version: 1;
  name: string;
  /** From the model card's `instance_prompt`, when it has one. */
  triggerWord?: string;
  provider: 'hub';
  source: { hubUrl: string; repoId: string; commit: string; file: string; license?: string; baseModel?: string };
  weights: LoraRecord['weights'];
  registeredAt: string;
}

/** What `NAME.json` holds for a LoRA trained by `pixelpipe lora train`. */
export interface LoraRecord {
  version: 1;
  name: string;
  triggerWord: string;
  /** `replicate` or `fal`. */
  provider: string;
  /** The trainer model, e.g. `ostris/flux-dev-lora-trainer`. */
  trainer: string;
  trainingId: string;
  /** What was asked (steps, rank, learning rate), what the trainer was sent, and what it has no input for. */
  settings: { steps?: number; rank?: number; learningRate?: number; input: Record<string, unknown>; ignored: string[] };
  images: { file: string; sha256: string; width: number; height: number; caption: string }[];
  weights: { file: string; bytes: number; sha256: string; url: string; tensors: number };
  startedAt: string;
  completedAt: string;
  registeredAt: string;
}

export interface LoraListing {
  name: string;
  triggerWord?: string;
  bytes: number;
  sha256: string;
  provider?: string;
}

/** Letters, digits, `_`, `-` and `.`: a name is a file name and, later, a `<lora:NAME:0.8>` token. */
export function checkLoraName(name: string): string {
  if (!/^[\w][\w.-]{0,99}$/.test(name) || name.endsWith('.safetensors')) {
    throw new InvalidArgumentError({ argument: 'name', value: name, message: `\`--name\` must be letters, digits, _ - and . (no extension), at most 100 characters, got ${JSON.stringify(name)}` });
  }
  return name;
}

// The format caps the header at 100 MB; a LoRA's is a few hundred kB, so a larger claim means a wrong or damaged file.
const largestHeader = 100_000_000;

/** Checks `bytes` is a whole safetensors file: a bounded JSON header whose tensors lie inside the data. Returns the tensor count. */
export function checkSafetensors(bytes: Uint8Array, source: string): number {
  const fail = (problem: string): never => {
    throw new InvalidModelError({ model: source, message: `the weights downloaded from ${source} are not a valid .safetensors file: ${problem}; nothing was registered (download the file again, or ask the provider)` });
  };
  if (bytes.byteLength < 8) fail(`they are ${bytes.byteLength} bytes long`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > largestHeader) fail(`the header claims ${headerLength} bytes, over the format's ${largestHeader}-byte limit`);
  if (8 + headerLength > bytes.byteLength) fail(`the header claims ${headerLength} bytes but the file has ${bytes.byteLength} (truncated?)`);
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('utf8'));
  } catch {
    fail('the header is not JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return fail('the header is not a JSON object');
  const dataLength = bytes.byteLength - 8 - headerLength;
  let tensors = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !Array.isArray(shape) || !Array.isArray(offsets) || offsets.length !== 2) fail(`tensor "${name}" has no dtype, shape and data_offsets`);
    const [begin, end] = offsets as number[];
    if (!Number.isInteger(begin) || !Number.isInteger(end) || begin! < 0 || end! < begin! || end! > dataLength) fail(`tensor "${name}" has data_offsets [${begin}, ${end}] outside the ${dataLength} data bytes`);
    tensors += 1;
  }
  if (tensors === 0) fail('it holds no tensors');
  return tensors;
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Refuses a name already in the folder, before any money is spent training it. */
export async function checkLoraFree(folder: string, name: string): Promise<void> {
  const taken = await stat(join(folder, `${name}.safetensors`)).then(() => true, () => false);
  if (taken) throw new InvalidArgumentError({ argument: 'name', value: name, message: `${join(folder, `${name}.safetensors`)} already exists; choose another \`--name\` or remove it` });
}

/** Writes `NAME.safetensors` and `NAME.json` after checking the weights; each file appears whole or not at all. */
export async function registerLora(folder: string, record: Omit<LoraRecord, 'version' | 'weights' | 'registeredAt'> & { weightsUrl: string }, weights: Uint8Array): Promise<LoraRecord> {
  const tensors = checkSafetensors(weights, record.weightsUrl);
  await mkdir(folder, { recursive: true });
  await checkLoraFree(folder, record.name);
  const { weightsUrl, ...rest } = record;
  const full: LoraRecord = { version: 1, ...rest, weights: weightsEntry(record.name, weights, weightsUrl, tensors), registeredAt: new Date().toISOString() };
  await writeLoraFiles(folder, record.name, full, weights);
  return full;
}

/** The record's description of the weights file. */
export function weightsEntry(name: string, weights: Uint8Array, url: string, tensors: number): LoraRecord['weights'] {
  return { file: `${name}.safetensors`, bytes: weights.byteLength, sha256: sha256(weights), url, tensors };
}

/** Writes `NAME.json`, then `NAME.safetensors`, each through a partial file renamed into place, so each appears whole or not at all. */
export async function writeLoraFiles(folder: string, name: string, record: LoraRecord | HubLoraRecord, weights: Uint8Array): Promise<void> {
  const write = async (file: string, data: Uint8Array | string) => {
    const partial = join(folder, `.${file}.partial`);
    await writeFile(partial, data);
    await rename(partial, join(folder, file));
  };
  await write(`${name}.json`, `${JSON.stringify(record, null, 2)}\n`);
  await write(`${name}.safetensors`, weights);
}

// A file without a record is hashed once per version (path, size, mtime), not at every listing: GET /v1/loras
// and every build list the folder, and LoRA files run to hundreds of megabytes.
const listedHashes = new Map<string, string>();
async function fileSha256(path: string): Promise<string> {
  const { size, mtimeMs } = await stat(path);
  const key = `${path}:${size}:${mtimeMs}`;
  let hash = listedHashes.get(key);
  if (hash === undefined) listedHashes.set(key, (hash = sha256(await readFile(path))));
  return hash;
}

/** Every `.safetensors` in the folder, with its record's trigger word when it has one; the hash is computed for files without a record. */
export async function listLoras(folder: string): Promise<LoraListing[]> {
  const files = await readdir(folder).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? [] : Promise.reject(error)));
  const listings: LoraListing[] = [];
  for (const file of files.filter((name) => name.endsWith('.safetensors') && !name.startsWith('.')).sort()) {
    const name = file.slice(0, -'.safetensors'.length);
    const { size } = await stat(join(folder, file));
    const record = await readFile(join(folder, `${name}.json`), 'utf8').then((text) => JSON.parse(text) as LoraRecord | HubLoraRecord, () => undefined);
    const recorded = record?.weights?.bytes === size ? record.weights.sha256 : undefined;
    listings.push({ name, triggerWord: record?.triggerWord, provider: record?.provider, bytes: size, sha256: recorded ?? (await fileSha256(join(folder, file))) });
  }
  return listings;
}
