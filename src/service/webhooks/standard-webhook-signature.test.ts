// Standard Webhooks signatures, checked by the `standardwebhooks` package with the documented key and by a plain HMAC.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, mock, test } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { isInvalidArgument } from '../../testing/assertions.js';
import { signStandardWebhook, standardWebhookSecret } from './standard-webhook-signature.js';

const secret = 'whsec-test-0123456789abcdef';
const id = '3f0c6f0e-8a2b-4c59-9d1e-0f6b1d2a7c44';
const body = JSON.stringify({ id, event: 'job.succeeded', createdAt: '2026-01-01T00:00:00.000Z', data: { jobId: 'j1', note: 'ünïcödé ✓' } });
const timestamp = 1_767_225_600;

// The recipe docs/webhooks.md gives receivers, spelled out here rather than taken from the code under test.
const documentedKey = (text: string) => `whsec_${Buffer.from(text, 'utf8').toString('base64')}`;

// `Webhook#verify` reads the system clock for its five-minute window and takes no `now`, so the clock is set for the synchronous call.
function verifyAt(seconds: number, key: string | Webhook, payload: string | Uint8Array, headers: Record<string, string>): unknown {
  const clock = mock.method(Date, 'now', () => seconds * 1000);
  try {
    return (typeof key === 'string' ? new Webhook(key) : key).verify(payload, headers);
  } finally {
    clock.mock.restore();
  }
}

const isVerificationError = (pattern: RegExp) => (error: unknown) => error instanceof WebhookVerificationError && pattern.test(error.message);

describe('standard webhook signature', () => {
  test('the headers are webhook-id, webhook-timestamp and v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>"> keyed by the secret\'s UTF-8 bytes', () => {
    const headers = signStandardWebhook({ secret, id, body, timestamp });
    const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${id}.${timestamp}.${body}`).digest('base64');
    assert.deepEqual(headers, { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${expected}` });
    assert.deepEqual(signStandardWebhook({ secret, id, body: Buffer.from(body), timestamp }), headers, 'raw bytes sign the same as the string');
  });

  test('standardWebhookSecret is whsec_ and the base64 of the UTF-8 bytes', () => {
    assert.equal(standardWebhookSecret('0123456789abcdef'), 'whsec_MDEyMzQ1Njc4OWFiY2RlZg==');
    assert.equal(standardWebhookSecret(secret), documentedKey(secret));
    assert.throws(() => standardWebhookSecret(''), isInvalidArgument('secret', /PIXELPIPE_WEBHOOK_SECRET/));
  });

  test('the documented key verifies with standardwebhooks, whatever the secret\'s length or characters', () => {
    // Lengths 16, 17 and 18 give base64 with two, one and no padding characters; the last two are not ASCII.
    for (const text of ['0123456789abcdef', '0123456789abcdefg', '0123456789abcdefgh', 'pässwörd-0123456789', 'secret-with-emoji-😀-0123']) {
      const headers = signStandardWebhook({ secret: text, id, body, timestamp });
      assert.deepEqual(verifyAt(timestamp, documentedKey(text), body, { ...headers }), JSON.parse(body), text);
      assert.deepEqual(verifyAt(timestamp, new Webhook(new TextEncoder().encode(text), { format: 'raw' }), body, { ...headers }), JSON.parse(body), `${text}, raw bytes`);
    }
  });

  test('raw format with the secret as a string matches only for ASCII secrets, as docs/webhooks.md warns', () => {
    const ascii = signStandardWebhook({ secret, id, body, timestamp });
    assert.deepEqual(verifyAt(timestamp, new Webhook(secret, { format: 'raw' }), body, { ...ascii }), JSON.parse(body));
    const accented = 'pässwörd-0123456789';
    const headers = signStandardWebhook({ secret: accented, id, body, timestamp });
    assert.throws(() => verifyAt(timestamp, new Webhook(accented, { format: 'raw' }), body, { ...headers }), isVerificationError(/No matching signature/));
  });

  test('a tampered body, another secret, another id or another timestamp fails', () => {
    const headers = signStandardWebhook({ secret, id, body, timestamp });
    const key = documentedKey(secret);
    assert.throws(() => verifyAt(timestamp, key, body.replace('j1', 'j2'), { ...headers }), isVerificationError(/No matching signature/));
    assert.throws(() => verifyAt(timestamp, documentedKey(`${secret}x`), body, { ...headers }), isVerificationError(/No matching signature/));
    assert.throws(() => verifyAt(timestamp, key, body, { ...headers, 'webhook-id': `${id}x` }), isVerificationError(/No matching signature/));
    assert.throws(() => verifyAt(timestamp, key, body, { ...headers, 'webhook-timestamp': String(timestamp + 1) }), isVerificationError(/No matching signature/));
  });

  test('the signed timestamp is the one checked: outside five minutes fails, in the past or the future', () => {
    const headers = signStandardWebhook({ secret, id, body, timestamp });
    const key = documentedKey(secret);
    assert.deepEqual(verifyAt(timestamp + 300, key, body, { ...headers }), JSON.parse(body));
    assert.throws(() => verifyAt(timestamp + 301, key, body, { ...headers }), isVerificationError(/too old/));
    assert.throws(() => verifyAt(timestamp - 301, key, body, { ...headers }), isVerificationError(/too new/));
  });

  test('signing refuses an empty secret, an empty id and a timestamp that is not whole seconds', () => {
    assert.throws(() => signStandardWebhook({ secret: '', id, body, timestamp }), isInvalidArgument('secret', /PIXELPIPE_WEBHOOK_SECRET/));
    assert.throws(() => signStandardWebhook({ secret, id: '', body, timestamp }), isInvalidArgument('id', /non-empty string, got ""/));
    assert.throws(() => signStandardWebhook({ secret, id, body, timestamp: timestamp + 0.5 }), isInvalidArgument('timestamp', /whole Unix seconds/));
    assert.throws(() => signStandardWebhook({ secret, id, body, timestamp: -1 }), isInvalidArgument('timestamp', /whole Unix seconds, got -1/));
  });
});
