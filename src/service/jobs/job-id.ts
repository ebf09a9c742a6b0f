// Job ids that sort in submit order (UUID version 7 with a counter), so equal priorities run first in, first out.
import { randomBytes } from 'node:crypto';

// pg-boss takes equal priorities by created_on, then by id. PGlite's clock ticks in milliseconds,
// so jobs submitted within one millisecond tie on created_on; ids that rise in submit order break
// the tie the right way. Within one millisecond a 12-bit counter orders them (RFC 9562, method 1).
let lastMilliseconds = -1;
let counter = 0;

/** A UUID version 7: 48 bits of Unix milliseconds, a counter, random bits; each one sorts after the one before it from this process. */
export function createJobId(now: () => number = Date.now): string {
  let milliseconds = now();
  if (milliseconds > lastMilliseconds) {
    counter = 0;
  } else {
    // Same millisecond, or the clock stepped back: keep counting on the last timestamp.
    milliseconds = lastMilliseconds;
    counter += 1;
    if (counter > 0xfff) {
      milliseconds += 1;
      counter = 0;
    }
  }
  lastMilliseconds = milliseconds;
  const bytes = randomBytes(16);
  bytes.writeUIntBE(milliseconds, 0, 6);
  bytes[6] = 0x70 | (counter >> 8);
  bytes[7] = counter & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
