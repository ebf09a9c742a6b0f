// The key of an output: a hash of everything that decides its bytes, so a rebuild skips outputs whose key is in the lockfile.
import { createHash } from 'node:crypto';
import type { ResolvedOutput } from '../build/build-types.js';

/** What the build knows once it has picked the model: the model, its weights' hash, the engine and the request it sends. */
export interface OutputIdentity {
  model: string;
  modelHash?: string;
  engineVersion: string;
  /** The final request the build sends (native size picked, defaults applied). */
  request: Record<string, unknown>;
  /** SHA-256 of each LoRA file the request names, by name: a retrained LoRA under the same name changes the key. */
  loraHashes?: Record<string, string>;
  /** SHA-256 of each named ControlNet, by name: another ControlNet under the same name changes the key. */
  controlNetHashes?: Record<string, string>;
}

/** Bumped when what the key covers changes, so old lockfiles rebuild instead of matching wrongly. */
const keyVersion = 1;

/** JSON with object keys sorted and undefined fields left out, so equal values always give the same text; bigints are written as decimal strings. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonicalJson: ${value} has no JSON form; pass a finite number`);
    return JSON.stringify(value);
  }
  if (typeof value === 'bigint') return JSON.stringify(value.toString());
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (typeof value === 'object' && (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, entry]) => entry !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, entry]) => `${JSON.stringify(key)}:${canonicalJson(entry)}`).join(',')}}`;
  }
  throw new TypeError(`canonicalJson: a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value} has no canonical JSON form; pass plain objects, arrays, strings, finite numbers, booleans, null or bigints`);
}

/** `sha256:<hex>` over the final request, candidates, ranker, finish, model, model hash and engine version (not the path: moving an output keeps its key). */
export function outputKey(output: ResolvedOutput, identity: OutputIdentity): string {
  const covered = {
    keyVersion,
    request: identity.request,
    candidates: output.candidates,
    ranker: output.ranker,
    finish: output.finish,
    model: identity.model,
    modelHash: identity.modelHash,
    engineVersion: identity.engineVersion,
    loraHashes: identity.loraHashes,
    controlNetHashes: identity.controlNetHashes,
  };
  return `sha256:${createHash('sha256').update(canonicalJson(covered), 'utf8').digest('hex')}`;
}
