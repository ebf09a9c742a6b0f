// Webhook signatures: a round trip, a tampered body, stale and future timestamps, several v1 values, malformed headers.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { signWebhook, verifyWebhook } from './webhook-signature.js';

const secret = 'whsec-test-0123456789abcdef';
const body = JSON.stringify({ id: 'd1', event: 'job.succeeded', createdAt: '2026-01-01T00:00:00.000Z', data: { jobId: 'j1' } });
const timestamp = 1_767_225_600;

describe('webhook signature', () => {
  test('a signed body verifies, and the header is t=<seconds>,v1=<HMAC-SHA256 of "<t>.<body>">', () => {
    const header = signWebhook({ secret, body, timestamp });
    const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
    assert.equal(header, `t=${timestamp},v1=${expected}`);
    assert.equal(verifyWebhook({ secret, header, body, now: timestamp }), true);
    assert.equal(verifyWebhook({ secret, header, body: Buffer.from(body), now: timestamp + 299 }), true, 'raw bytes verify the same as the string');
  });

  test('a tampered body, another secret, or a changed timestamp fails', () => {
    const header = signWebhook({ secret, body, timestamp });
    assert.equal(verifyWebhook({ secret, header, body: body.replace('j1', 'j2'), now: timestamp }), false);
    assert.equal(verifyWebhook({ secret: `${secret}x`, header, body, now: timestamp }), false);
    assert.equal(verifyWebhook({ secret, header: header.replace(`t=${timestamp}`, `t=${timestamp + 1}`), body, now: timestamp }), false);
  });

  test('a timestamp outside the tolerance fails, in the past or the future', () => {
    const header = signWebhook({ secret, body, timestamp });
    assert.equal(verifyWebhook({ secret, header, body, now: timestamp + 301 }), false);
    assert.equal(verifyWebhook({ secret, header, body, now: timestamp - 301 }), false);
    assert.equal(verifyWebhook({ secret, header, body, now: timestamp + 3600, toleranceSeconds: 3600 }), true);
  });

  test('any of several v1 values may match; unknown schemes and junk are ignored', () => {
    const good = signWebhook({ secret, body, timestamp }).split(',')[1]!;
    const other = signWebhook({ secret: 'another-secret-0123456789', body, timestamp }).split(',')[1]!;
    assert.equal(verifyWebhook({ secret, header: `t=${timestamp},${other},v0=abc,${good}`, body, now: timestamp }), true);
    assert.equal(verifyWebhook({ secret, header: `t=${timestamp}, ${other}`, body, now: timestamp }), false);
  });

  test('missing or malformed headers fail without throwing', () => {
    for (const header of [undefined, null, '', 'garbage', `t=${timestamp}`, 'v1=00', `t=abc,v1=${'0'.repeat(64)}`, `t=${timestamp},v1=${'z'.repeat(64)}`]) {
      assert.equal(verifyWebhook({ secret, header, body, now: timestamp }), false, String(header));
    }
  });

  test('signing refuses an empty secret and a timestamp that is not whole seconds', () => {
    assert.throws(() => signWebhook({ secret: '', body, timestamp }), isInvalidArgument('secret', /PIXELPIPE_WEBHOOK_SECRET/));
    assert.throws(() => signWebhook({ secret, body, timestamp: timestamp + 0.5 }), isInvalidArgument('timestamp', /whole Unix seconds/));
  });
});
