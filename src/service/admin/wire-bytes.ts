// Bytes across the admin socket's JSON: a Uint8Array travels as `{ "$base64": "..." }` and comes back as one.

/** `JSON.stringify` replacer: Uint8Arrays (and Buffers) as `{ $base64 }`. */
export function bytesReplacer(this: unknown, key: string, value: unknown): unknown {
  // A Buffer's toJSON runs before the replacer sees it, so the holder's own property is checked.
  const own = (this as Record<string, unknown>)[key];
  return own instanceof Uint8Array ? { $base64: Buffer.from(own.buffer, own.byteOffset, own.byteLength).toString('base64') } : value;
}

/** `JSON.parse` reviver: `{ $base64 }` back to a Uint8Array. */
export function bytesReviver(_key: string, value: unknown): unknown {
  if (value !== null && typeof value === 'object' && Object.keys(value).length === 1 && typeof (value as { $base64?: unknown }).$base64 === 'string') {
    return new Uint8Array(Buffer.from((value as { $base64: string }).$base64, 'base64'));
  }
  return value;
}
