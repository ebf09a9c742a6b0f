// Blob downloads over a real socket and the real service: whole, HEAD, ranges, 416, ETags, and signed URLs (good, expired, tampered).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { BlobStorage } from '../../service/storage/blob-storage.js';
import { parseRange } from './blob-routes.js';
import { blobUrl, checkBlobSignature, signBlobKey } from './blob-urls.js';
import { errorOf, startTestServer, startTestService, type TestService } from './http-test-harness.case.js';

const bytes = new Uint8Array(Array.from({ length: 100 }, (_, index) => index));

let testService: TestService;
before(async () => (testService = await startTestService()));
after(() => testService.close());

test('parseRange reads a-b, a- and -n, clamps the end, and ignores what it cannot serve', () => {
  assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
  assert.deepEqual(parseRange('bytes=90-', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-10', 100), { start: 90, end: 99 });
  assert.deepEqual(parseRange('bytes=-1000', 100), { start: 0, end: 99 });
  assert.deepEqual(parseRange('bytes=50-5000', 100), { start: 50, end: 99 });
  assert.equal(parseRange('bytes=100-', 100), 'unsatisfiable');
  assert.equal(parseRange('bytes=-0', 100), 'unsatisfiable');
  assert.equal(parseRange(undefined, 100), undefined);
  assert.equal(parseRange('bytes=5-1', 100), undefined);
  assert.equal(parseRange('bytes=0-1,5-6', 100), undefined);
  assert.equal(parseRange('items=0-1', 100), undefined);
});

test('GET and HEAD serve a blob with its type, length, ETag and Accept-Ranges', async (t) => {
  const { request, service } = await startTestServer(t, testService);
  const { key, sha256 } = await service.storage.put(bytes, { mediaType: 'image/png' });
  const response = await request(`/v1/blobs/${key}`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('content-type'), 'image/png');
  assert.equal(response.headers.get('content-length'), '100');
  assert.equal(response.headers.get('etag'), `"${sha256.slice('sha256:'.length)}"`);
  assert.equal(response.headers.get('accept-ranges'), 'bytes');
  assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes);

  const head = await request(`/v1/blobs/${key}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-length'), '100');
  assert.equal((await head.arrayBuffer()).byteLength, 0);

  const cached = await request(`/v1/blobs/${key}`, { headers: { 'if-none-match': response.headers.get('etag')! } });
  assert.equal(cached.status, 304);
});

test('ranges answer 206 with Content-Range; one past the end answers 416 with bytes */size', async (t) => {
  const { request, service } = await startTestServer(t, testService);
  const { key } = await service.storage.put(bytes, { mediaType: 'image/png' });
  const cases: [string, number, number][] = [['bytes=10-19', 10, 19], ['bytes=95-', 95, 99], ['bytes=-5', 95, 99]];
  for (const [range, start, end] of cases) {
    const response = await request(`/v1/blobs/${key}`, { headers: { range } });
    assert.equal(response.status, 206, range);
    assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/100`);
    assert.equal(response.headers.get('content-length'), String(end - start + 1));
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), bytes.slice(start, end + 1));
  }
  const head = await request(`/v1/blobs/${key}`, { method: 'HEAD', headers: { range: 'bytes=0-0' } });
  assert.equal(head.status, 206);
  assert.equal(head.headers.get('content-range'), 'bytes 0-0/100');

  const outside = await request(`/v1/blobs/${key}`, { headers: { range: 'bytes=100-200' } });
  assert.equal(outside.status, 416);
  assert.equal(outside.headers.get('content-range'), 'bytes */100');
  assert.equal(errorOf(await outside.json()).code, 'range_not_satisfiable');
});

test('missing and malformed blob keys answer 404 and 400', async (t) => {
  const { request } = await startTestServer(t, testService);
  const missing = await request(`/v1/blobs/sha256/ab/cd/abcd${'0'.repeat(60)}.png`);
  assert.equal(missing.status, 404);
  assert.equal(errorOf(await missing.json()).code, 'blob_not_found');
  const malformed = await request('/v1/blobs/sha256/../../etc/passwd');
  assert.ok([400, 404].includes(malformed.status));
  errorOf(await malformed.json());
  const bad = await request('/v1/blobs/not-a-key.png');
  assert.equal(bad.status, 400);
  assert.equal(errorOf(await bad.json()).param, 'key');
});

test('with API keys, a blob needs a key or a valid signature; expired and tampered URLs get 403', async (t) => {
  let clock = Date.parse('2030-01-01T00:00:00Z');
  const now = () => clock;
  const { request, service, url, addKey } = await startTestServer(t, testService, { now });
  const { secret } = await addKey();
  const { key } = await service.storage.put(bytes, { mediaType: 'image/png' });
  const other = await service.storage.put(bytes.slice(1), { mediaType: 'image/png' });

  assert.equal((await request(`/v1/blobs/${key}`)).status, 401);
  assert.equal((await request(`/v1/blobs/${key}`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);

  // Signed with the service's own secret, as `serve` signs the URLs it hands out.
  const signed = await blobUrl({ storage: service.storage, key, baseUrl: `${url}/`, secret: service.urlSigningSecret, expiresInSeconds: 60, now });
  assert.match(signed, new RegExp(`^${url}/v1/blobs/${key}\\?expires=\\d+&signature=[0-9a-f]{64}$`));
  const good = await fetch(signed);
  assert.equal(good.status, 200);
  assert.deepEqual(new Uint8Array(await good.arrayBuffer()), bytes);
  assert.equal((await fetch(signed, { method: 'HEAD' })).status, 200);

  const tamperedSignature = signed.replace(/signature=(.)/, (_, first: string) => `signature=${first === 'a' ? 'b' : 'a'}`);
  const forged = await fetch(tamperedSignature);
  assert.equal(forged.status, 403);
  assert.equal(errorOf(await forged.json()).code, 'invalid_signature');
  assert.equal((await fetch(signed.replace(key, other.key))).status, 403, 'a signature is for one key only');
  const later = signed.replace(/expires=(\d+)/, (_, expires: string) => `expires=${Number(expires) + 3600}`);
  assert.equal((await fetch(later)).status, 403, 'the expiry is signed too');
  assert.equal((await fetch(signed.replace(/&signature=.*/, '&signature=zz'))).status, 403);

  clock += 61_000;
  const expired = await fetch(signed);
  assert.equal(expired.status, 403);
  assert.equal(errorOf(await expired.json()).code, 'signature_expired');
});

test('blobUrl gives the store\'s presigned URL where it has one', async () => {
  const presigning = { url: async (key: string) => `https://bucket.example/${key}?X-Amz-Signature=abc` } as unknown as BlobStorage;
  const key = `sha256/ab/cd/abcd${'0'.repeat(60)}.png`;
  assert.equal(await blobUrl({ storage: presigning, key, baseUrl: 'http://x', secret: 's' }), `https://bucket.example/${key}?X-Amz-Signature=abc`);
});

test('checkBlobSignature refuses malformed expiries and signatures', () => {
  const key = `sha256/ab/cd/abcd${'0'.repeat(60)}.png`;
  const signature = signBlobKey(key, 2_000_000_000, 'secret');
  assert.equal(checkBlobSignature({ key, expires: '2000000000', signature, secret: 'secret', now: () => 0 }), undefined);
  assert.equal(checkBlobSignature({ key, expires: undefined, signature, secret: 'secret' }), 'invalid');
  assert.equal(checkBlobSignature({ key, expires: '2e9', signature, secret: 'secret' }), 'invalid');
  assert.equal(checkBlobSignature({ key, expires: '2000000000', signature, secret: 'other', now: () => 0 }), 'invalid');
});
