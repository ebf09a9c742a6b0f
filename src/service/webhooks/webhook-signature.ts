// Signs webhook bodies and checks signatures: `Pixelpipe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** Name of the header the signature travels in. */
export const signatureHeader = 'Pixelpipe-Signature';

/** What `signWebhook` takes. */
export interface SignWebhookOptions {
  /** The shared secret (PIXELPIPE_WEBHOOK_SECRET). */
  secret: string;
  /** The raw body exactly as sent. */
  body: string | Uint8Array;
  /** When it is signed, in whole Unix seconds. */
  timestamp: number;
}

/** What `verifyWebhook` takes. */
export interface VerifyWebhookOptions {
  /** The shared secret. */
  secret: string;
  /** The `Pixelpipe-Signature` header as received; undefined or malformed fails verification. */
  header: string | null | undefined;
  /** The raw body exactly as received, before any JSON parsing. */
  body: string | Uint8Array;
  /** Largest difference between the signed time and `now` accepted, in seconds. Default 300. */
  toleranceSeconds?: number;
  /** The current time in Unix seconds. Default: the system clock. */
  now?: number;
}

function digest(secret: string, timestamp: number, body: string | Uint8Array): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/**
 * The `Pixelpipe-Signature` header value for `body` signed at `timestamp`.
 * @deprecated Sent for one more release; use `signStandardWebhook` (Standard Webhooks headers).
 */
export function signWebhook({ secret, body, timestamp }: SignWebhookOptions): string {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new InvalidArgumentError({ argument: 'secret', value: '(hidden)', message: '`secret` must be a non-empty string; set PIXELPIPE_WEBHOOK_SECRET' });
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new InvalidArgumentError({ argument: 'timestamp', value: timestamp, message: `\`timestamp\` must be whole Unix seconds, got ${timestamp}` });
  }
  return `t=${timestamp},v1=${digest(secret, timestamp, body).toString('hex')}`;
}

/**
 * True when `header` holds a `v1` signature of `body` by `secret` made within `toleranceSeconds` of
 * `now`. Any of several `v1` values may match (a sender rotating secrets signs with each); unknown
 * schemes are ignored. Compares in constant time.
 * @deprecated `Pixelpipe-Signature` is sent for one more release; verify `webhook-signature` with the
 * `standardwebhooks` package and `standardWebhookSecret(secret)` instead (docs/webhooks.md).
 */
export function verifyWebhook({ secret, header, body, toleranceSeconds = 300, now = Math.floor(Date.now() / 1000) }: VerifyWebhookOptions): boolean {
  if (typeof header !== 'string' || typeof secret !== 'string' || secret.length === 0) return false;
  let timestamp: number | undefined;
  const candidates: Buffer[] = [];
  for (const part of header.split(',')) {
    const separator = part.indexOf('=');
    if (separator < 0) continue;
    const key = part.slice(0, separator).trim();
    const value = part.slice(separator + 1).trim();
    if (key === 't' && /^\d{1,15}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) candidates.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || candidates.length === 0) return false;
  // Both directions: a timestamp far in the future is as suspect as an old one.
  if (!(Math.abs(now - timestamp) <= toleranceSeconds)) return false;
  const expected = digest(secret, timestamp, body);
  let matched = false;
  // Every candidate is compared, so the time taken does not say which one matched.
  for (const candidate of candidates) matched = timingSafeEqual(candidate, expected) || matched;
  return matched;
}
