// Every image a job stores is watermarked with its record and signed; POST /v1/verify reads both back, and
// c2pa-ts (not the library that signs) validates the stored file.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { writeDevelopmentCertificates } from '../../service/provenance/c2pa-keys.js';
import { validateWithC2paTs } from '../../testing/c2pa-ts.js';
import { errorOf, pgliteCase, sharedTestService, testModelId } from './http-test-harness.case.js';

const keys = await mkdtemp(join(tmpdir(), 'pixelpipe-verify-keys-'));
let shared: ReturnType<typeof sharedTestService>;
before(async () => {
  const { certificatePath, keyPath } = await writeDevelopmentCertificates(keys);
  shared = sharedTestService(pgliteCase, { settings: { c2paCert: certificatePath, c2paKey: keyPath } });
});
after(async () => {
  await shared.close();
  await rm(keys, { recursive: true, force: true });
});

test('a job\'s image is stored signed and watermarked with its record id; /v1/verify reads both back and finds the record, also after JPEG at quality 75', async (t) => {
  const server = (await shared.startServer(t))!;
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a verified cube', width: 256, height: 256, seed: 3 });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'succeeded');
  const [record] = job.records;
  assert.equal(record!.provenance?.c2pa, 'signed');
  assert.match(record!.provenance!.signer!, /pixelpipe development signer/);
  assert.equal(record!.provenance!.watermark, record!.id.replaceAll('-', '').slice(0, 12));
  const blob = (await server.service.storage.get(record!.blobKey))!;

  // The other library validates what c2pa-node signed: signature, hash binding and the record it names.
  const independent = await validateWithC2paTs(blob.bytes);
  assert.deepEqual(independent.failed, []);
  assert.equal(independent.record?.recordId, record!.id);
  assert.deepEqual(independent.actions.map((action) => action.action), ['c2pa.created']);

  const verify = async (bytes: Uint8Array, contentType: string) => {
    const response = await server.request('/v1/verify', { method: 'POST', headers: { 'content-type': contentType }, body: bytes });
    return { status: response.status, body: (await response.json()) as any };
  };
  const stored = await verify(blob.bytes, 'image/png');
  assert.equal(stored.status, 200);
  assert.equal(stored.body.c2pa.state, 'valid');
  assert.equal(stored.body.c2pa.trusted, false);
  assert.deepEqual(stored.body.c2pa.actions.map((action: { action: string; softwareAgent: string }) => [action.action, action.softwareAgent]), [['c2pa.created', testModelId]]);
  assert.equal(stored.body.c2pa.record.recordId, record!.id);
  assert.equal(stored.body.record.recordId, record!.id);
  assert.deepEqual([stored.body.watermark.found, stored.body.watermark.payload, stored.body.watermark.records.map((found: { id: string }) => found.id)], [true, record!.provenance!.watermark, [record!.id]]);

  // Re-encoded as JPEG, the manifest is gone but the watermark still finds the record.
  const jpeg = new Uint8Array(await sharp(blob.bytes).jpeg({ quality: 75 }).toBuffer());
  const form = new FormData();
  form.append('image', new Blob([jpeg], { type: 'image/jpeg' }), 'copy.jpg');
  const response = await server.request('/v1/verify', { method: 'POST', body: form });
  const copied = (await response.json()) as any;
  assert.equal(response.status, 200);
  assert.equal(copied.c2pa.state, 'absent');
  assert.deepEqual(copied.watermark.records.map((found: { id: string }) => found.id), [record!.id]);

  // One changed pixel: the manifest no longer validates.
  const { data, info } = await sharp(blob.bytes).raw().toBuffer({ resolveWithObject: true });
  data[0] = data[0]! ^ 0xff;
  const tampered = await sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }).png().toBuffer();
  const withManifest = Buffer.concat([tampered.subarray(0, 33), manifestChunk(Buffer.from(blob.bytes)), tampered.subarray(33)]);
  const invalid = await verify(withManifest, 'image/png');
  assert.equal(invalid.body.c2pa.state, 'invalid');
  assert.ok(invalid.body.c2pa.errors.some((error: string) => /dataHash\.mismatch/.test(error)), invalid.body.c2pa.errors.join('; '));
});

test('a resized image stored as lossy WebP is watermarked and signed on its final pixels: both verify, and the record has the stored size', async (t) => {
  const server = (await shared.startServer(t))!;
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a resized verified cube', width: 128, height: 128, seed: 5, resize: { width: 160, height: 96, fit: 'contain' }, outputFormat: 'webp', outputQuality: 90 });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  const [record] = job.records;
  assert.deepEqual([record!.mediaType, record!.width, record!.height, record!.provenance?.c2pa], ['image/webp', 160, 96, 'signed']);
  const blob = (await server.service.storage.get(record!.blobKey))!;
  const metadata = await sharp(blob.bytes).metadata();
  assert.deepEqual([metadata.format, metadata.width, metadata.height], ['webp', 160, 96]);
  // `contain` pads the square image with opaque black on the left and right.
  const { data, info } = await sharp(blob.bytes).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([...data.subarray(0, info.channels)].slice(0, 3).map((value) => value < 40), [true, true, true]);
  assert.ok(info.channels === 3 || data[3] === 255, 'the padding is opaque');
  const response = await server.request('/v1/verify', { method: 'POST', headers: { 'content-type': 'image/webp' }, body: blob.bytes });
  const report = (await response.json()) as any;
  assert.equal(response.status, 200);
  assert.equal(report.c2pa.state, 'valid', JSON.stringify(report.c2pa.errors));
  assert.equal(report.c2pa.record.recordId, record!.id);
  assert.deepEqual([report.watermark.found, report.watermark.records?.map((found: { id: string }) => found.id)], [true, [record!.id]], JSON.stringify(report.watermark));
});

test('an upscaled job image is watermarked and signed on its upscaled pixels, its manifest adds c2pa.resized by the upscaler, and its record names the upscale', async (t) => {
  const server = (await shared.startServer(t))!;
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'an upscaled verified cube', width: 64, height: 64, seed: 9, upscale: { scale: 2 } });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  const [record] = job.records;
  assert.deepEqual([record!.width, record!.height, record!.provenance?.c2pa], [128, 128, 'signed']);
  assert.deepEqual({ ...record!.provenance!.upscale, hash: undefined, overlap: undefined }, { model: 'esrgan-slim-x2', scale: 2, tile: 256, hash: undefined, overlap: undefined });
  assert.match(record!.provenance!.upscale!.hash!, /^sha256:[0-9a-f]{64}$/);
  const fetched = (await (await server.request(`/v1/records/${record!.id}`)).json()) as any;
  assert.deepEqual(fetched.provenance.upscale, record!.provenance!.upscale);
  const blob = (await server.service.storage.get(record!.blobKey))!;
  const independent = await validateWithC2paTs(blob.bytes);
  assert.deepEqual(independent.failed, []);
  assert.deepEqual(independent.actions.map((action) => action.action), ['c2pa.created', 'c2pa.resized']);
  const response = await server.request('/v1/verify', { method: 'POST', headers: { 'content-type': 'image/png' }, body: blob.bytes });
  const report = (await response.json()) as any;
  assert.equal(report.c2pa.state, 'valid', JSON.stringify(report.c2pa.errors));
  assert.deepEqual(report.c2pa.actions.map((action: { action: string; softwareAgent: string }) => [action.action, action.softwareAgent]), [['c2pa.created', testModelId], ['c2pa.resized', 'esrgan-slim-x2']]);
  assert.equal(report.record.upscale.model, 'esrgan-slim-x2', 'the file\'s own record chunk names the upscale');
  assert.deepEqual([report.watermark.found, report.watermark.records?.map((found: { id: string }) => found.id)], [true, [record!.id]]);
});

test('/v1/verify: another key finds no record of someone else\'s; a non-image body and a wrong content type are refused, naming what to send', async (t) => {
  const server = (await shared.startServer(t))!;
  const owner = await server.addKey();
  const other = await server.addKey();
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a private cube', width: 128, height: 128 }, { authorization: `Bearer ${owner.secret}` });
  const job = await server.completeJob(submitted.id);
  const blob = (await server.service.storage.get(job.records[0]!.blobKey))!;
  const ask = async (secret: string, body: Uint8Array | string, contentType: string) => {
    const response = await server.request('/v1/verify', { method: 'POST', headers: { authorization: `Bearer ${secret}`, 'content-type': contentType }, body });
    return { status: response.status, body: (await response.json()) as any };
  };
  assert.deepEqual((await ask(owner.secret, blob.bytes, 'image/png')).body.watermark.records.map((found: { id: string }) => found.id), [job.records[0]!.id]);
  const foreign = await ask(other.secret, blob.bytes, 'image/png');
  assert.deepEqual([foreign.body.watermark.found, foreign.body.watermark.records], [true, []]);

  const text = await ask(owner.secret, 'not an image at all', 'image/png');
  assert.equal(text.status, 400);
  assert.deepEqual([errorOf(text.body).code, errorOf(text.body).param], ['invalid_image', 'image']);
  assert.match(errorOf(text.body).message, /the body is not a PNG, JPEG or WebP image/);
  const json = await ask(owner.secret, '{}', 'application/json');
  assert.equal(json.status, 415);
  assert.match(errorOf(json.body).message, /Content-Type image\/png, image\/jpeg or image\/webp, or multipart\/form-data with an `image` field/);
});

/** The `caBX` chunk (the C2PA manifest store) of a signed PNG. */
function manifestChunk(png: Buffer): Buffer {
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    if (png.toString('latin1', offset + 4, offset + 8) === 'caBX') return png.subarray(offset, offset + 12 + length);
    offset += 12 + length;
  }
  throw new Error('no caBX chunk');
}

test('an image edited twice carries both edits: each edit opens the signed image before it as its parent, down to the one that was made', async (t) => {
  const server = (await shared.startServer(t))!;
  const made = await server.completeJob((await server.postJson('/v1/jobs', { prompt: 'a first cube', width: 128, height: 128 })).body.id);
  let parent = made.records[0]!;
  for (const prompt of ['a second cube', 'a third cube']) {
    const { response, body } = await server.postJson('/v1/jobs', { prompt, images: [{ blobKey: parent.blobKey }], strength: 0.5, parentRecordId: parent.id });
    assert.equal(response.status, 202, JSON.stringify(body));
    const edited = await server.completeJob(body.id);
    assert.equal(edited.state, 'succeeded', JSON.stringify(edited.error));
    parent = edited.records[0]!;
  }
  const blob = (await server.service.storage.get(parent.blobKey))!;
  const response = await server.request('/v1/verify', { method: 'POST', headers: { 'content-type': 'image/png' }, body: blob.bytes });
  const report = (await response.json()) as any;
  assert.equal(report.c2pa.state, 'valid');
  const steps: string[][] = [];
  for (let step = report.c2pa; step; step = step.ingredients[0]?.manifest) steps.push([step.record?.recordId, ...step.actions.map((action: { action: string }) => action.action)]);
  assert.deepEqual(steps.map((step) => step.slice(1)), [['c2pa.opened', 'c2pa.edited'], ['c2pa.opened', 'c2pa.edited'], ['c2pa.created']]);
  assert.equal(steps[2]![0], made.records[0]!.id);
  const independent = await validateWithC2paTs(blob.bytes);
  assert.deepEqual(independent.failed, []);
});
