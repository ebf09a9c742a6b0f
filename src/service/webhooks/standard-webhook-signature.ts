// Signs webhook bodies by the Standard Webhooks scheme (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`, `webhook-signature`.
import { Webhook } from 'standardwebhooks';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** What `signStandardWebhook` takes. */
export interface SignStandardWebhookOptions {
  /** The shared secret (PIXELPIPE_WEBHOOK_SECRET), as the free string it is configured as. */
  secret: string;
  /** The message id, sent as `webhook-id`; the same on every retry of one delivery. */
  id: string;
  /** The raw body exactly as sent. */
  body: string | Uint8Array;
  /** When it is signed, in whole Unix seconds. */
  timestamp: number;
}

/** The three headers a Standard Webhooks receiver reads. */
export interface StandardWebhookHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  /** `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`. */
  'webhook-signature': string;
}

/**
 * The secret in the form Standard Webhooks libraries take: `whsec_` and the base64 of the secret's
 * UTF-8 bytes, so the signing key is those bytes, as it is for `Pixelpipe-Signature`. Pass it to
 * `new Webhook(...)` from `standardwebhooks` (or Svix's `Webhook`) on the receiving side.
 */
export function standardWebhookSecret(secret: string): string {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new InvalidArgumentError({ argument: 'secret', value: '(hidden)', message: '`secret` must be a non-empty string; set PIXELPIPE_WEBHOOK_SECRET' });
  }
  return `whsec_${Buffer.from(secret, 'utf8').toString('base64')}`;
}

/** The Standard Webhooks headers for `body`, sent as message `id` at `timestamp`. */
export function signStandardWebhook({ secret, id, body, timestamp }: SignStandardWebhookOptions): StandardWebhookHeaders {
  if (typeof id !== 'string' || id.length === 0) {
    throw new InvalidArgumentError({ argument: 'id', value: id, message: `webhook \`id\` must be a non-empty string, got ${JSON.stringify(id)}; pass the delivery's id` });
  }
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new InvalidArgumentError({ argument: 'timestamp', value: timestamp, message: `\`timestamp\` must be whole Unix seconds, got ${timestamp}` });
  }
  // The key goes through the same `whsec_` string receivers are told to pass, so the two cannot disagree.
  const signature = new Webhook(standardWebhookSecret(secret)).sign(id, new Date(timestamp * 1000), body);
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature };
}
