// C2PA signing and reading: c2pa-node (c2pa-rs) signs, and each signed file is validated again by c2pa-ts, an independent implementation.
// @peculiar/x509 2.x needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import { Builder } from '@contentauth/c2pa-node';
import * as x509 from '@peculiar/x509';
import { BMFF, JPEG, PNG } from '@trustnxt/c2pa-ts/asset';
import { DataHashAssertion } from '@trustnxt/c2pa-ts/manifest';
import assert from 'node:assert/strict';
import { createPrivateKey, sign, webcrypto } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { validateWithC2paTs } from '../../testing/c2pa-ts.js';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { encodePng, insertTextChunks, readPngText } from '../../engine/image/png.js';
import { provenanceCommand } from '../../interfaces/cli/provenance-command.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createRemoteSigner, loadFileSigner, writeDevelopmentCertificates, type DevelopmentCertificates, type ProvenanceSigner } from './c2pa-keys.js';
import { readProvenance } from './c2pa-reading.js';
import { signImage, trainedAlgorithmicMedia, type ProvenanceClaim } from './c2pa-signing.js';

let work: string;
let development: DevelopmentCertificates;
let signer: ProvenanceSigner;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'pixelpipe-c2pa-'));
  development = await writeDevelopmentCertificates(join(work, 'development'));
  signer = await loadFileSigner(development);
});
after(() => rm(work, { recursive: true, force: true }));

const parameters = 'a lighthouse at dusk\nSteps: 4, Sampler: Euler a, CFG scale: 1, Seed: 42, Size: 64x64';
const claimOf = (recordId: string, extra: Partial<ProvenanceClaim> = {}): ProvenanceClaim => ({
  generator: { name: 'pixelpipe', version: '0.1.0' },
  softwareAgent: 'stabilityai/sd-turbo',
  recordId,
  settings: { prompt: 'a lighthouse at dusk', seed: '42', steps: 4 },
  ...extra,
});

/** 64×64 noise from a seed; a PNG carries the A1111 `parameters` and `pixelpipe` record chunks, as pixelpipe writes them. */
async function noiseImage(mediaType: string, seed: number): Promise<Uint8Array> {
  const rgb = Buffer.alloc(64 * 64 * 3);
  for (let index = 0, state = seed; index < rgb.length; index++) rgb[index] = (state = (Math.imul(state, 1103515245) + 12345) >>> 0) >>> 24;
  if (mediaType === 'image/png') return encodePng(rgb, 64, 64, [{ keyword: 'parameters', text: parameters }, { keyword: 'pixelpipe', text: JSON.stringify({ seed: '42' }), international: true }]);
  const image = sharp(rgb, { raw: { width: 64, height: 64, channels: 3 } });
  return mediaType === 'image/jpeg' ? image.jpeg().toBuffer() : image.webp().toBuffer();
}

/** Flips one bit in the middle of the pixel data (PNG IDAT, the JPEG scan, the VP8 chunk), keeping the file well-formed. */
// The start-of-scan marker, found by walking the segments: the bytes FF DA can also occur inside the
// manifest's APP11 segments before it (its signature differs on every run).
function jpegScanStart(bytes: Buffer): number {
  let at = 2;
  while (at + 4 <= bytes.length && bytes[at] === 0xff) {
    if (bytes[at + 1] === 0xda) return at;
    at += 2 + bytes.readUInt16BE(at + 2);
  }
  throw new Error(`no start-of-scan marker found walking the JPEG's segments (stopped at byte ${at})`);
}

function tamper(bytes: Uint8Array, mediaType: string): Uint8Array {
  const copy = Buffer.from(bytes);
  if (mediaType === 'image/png') {
    const type = copy.indexOf('IDAT', 8, 'latin1');
    const length = copy.readUInt32BE(type - 4);
    copy[type + 4 + (length >> 1)]! ^= 1;
    copy.writeUInt32BE(crc32(copy.subarray(type, type + 4 + length)) >>> 0, type + 4 + length);
    return copy;
  }
  let at = mediaType === 'image/jpeg' ? jpegScanStart(copy) + 40 : copy.indexOf('VP8', 12, 'latin1') + 40;
  // In a JPEG scan 0xFF starts a marker; leave those bytes and their neighbours alone.
  while (mediaType === 'image/jpeg' && (copy[at]! >= 0xfe || copy[at - 1] === 0xff)) at++;
  copy[at]! ^= 1;
  return copy;
}

for (const mediaType of ['image/png', 'image/jpeg', 'image/webp']) {
  test(`${mediaType}: signed by c2pa-node, valid and untrusted in c2pa-node, and valid in c2pa-ts; one changed bit fails both`, async () => {
    const signed = await signImage(await noiseImage(mediaType, 1), mediaType, claimOf('8a0b7c52-0f7d-4c1e-9e43-5d3b2a1c0f01'), signer);

    const report = await readProvenance(signed, mediaType);
    assert.equal(report.state, 'valid', report.errors.join('; '));
    assert.equal(report.trusted, false);
    assert.equal(report.signer, 'pixelpipe development signer (pixelpipe development)');
    assert.equal(report.claimGenerator, 'pixelpipe/0.1.0');
    assert.deepEqual(report.actions, [{ action: 'c2pa.created', softwareAgent: 'stabilityai/sd-turbo', digitalSourceType: trainedAlgorithmicMedia }]);
    assert.deepEqual(report.record, { recordId: '8a0b7c52-0f7d-4c1e-9e43-5d3b2a1c0f01', settings: { prompt: 'a lighthouse at dusk', seed: '42', steps: 4 } });
    const trusted = await readProvenance(signed, mediaType, { trustAnchors: await readFile(development.caPath, 'utf8') });
    assert.deepEqual([trusted.state, trusted.trusted], ['valid', true]);

    if (mediaType === 'image/webp') assert.ok(![JPEG, PNG, BMFF].some((format) => format.canRead(signed)), 'c2pa-ts has no WebP reader of its own');
    const independent = await validateWithC2paTs(signed);
    assert.equal(independent.result.isValid, true, independent.failed.join(', '));
    assert.ok(independent.codes.includes('claimSignature.validated') && independent.codes.includes('assertion.dataHash.match'));
    assert.equal(independent.manifest.claim?.claimGeneratorName, 'pixelpipe');
    assert.deepEqual(
      independent.actions.map(({ action, digitalSourceType, softwareAgent }) => ({ action, digitalSourceType, agent: softwareAgent?.name })),
      [{ action: 'c2pa.created', digitalSourceType: trainedAlgorithmicMedia, agent: 'stabilityai/sd-turbo' }],
    );
    assert.equal(independent.record?.recordId, '8a0b7c52-0f7d-4c1e-9e43-5d3b2a1c0f01');

    const tampered = tamper(signed, mediaType);
    const broken = await readProvenance(tampered, mediaType);
    assert.equal(broken.state, 'invalid');
    assert.ok(broken.errors.some((error) => error.startsWith('assertion.dataHash.mismatch')), broken.errors.join('; '));
    const brokenIndependently = await validateWithC2paTs(tampered);
    assert.equal(brokenIndependently.result.isValid, false);
    assert.deepEqual(brokenIndependently.failed, ['assertion.dataHash.mismatch']);
  });
}

test("a PNG's parameters and record chunks survive signing, inside the hard binding", async () => {
  const signed = await signImage(await noiseImage('image/png', 2), 'image/png', claimOf('1d6f3a4e-7b58-4c0a-8f2e-3a9b8c7d6e02'), signer);
  assert.deepEqual(readPngText(signed), { parameters, pixelpipe: '{"seed":"42"}' });

  const { manifest } = await validateWithC2paTs(signed);
  const binding = manifest.assertions!.assertions.find((assertion) => assertion instanceof DataHashAssertion)!;
  const manifestChunk = Buffer.from(signed).indexOf('caBX', 8, 'latin1') - 4;
  assert.deepEqual(binding.exclusions, [{ start: manifestChunk, length: Buffer.from(signed).readUInt32BE(manifestChunk) + 12 }], 'only the manifest chunk is outside the hash');

  // The same prompt with one letter changed, its CRC fixed: the file is a good PNG, but no longer the signed one.
  const edited = Buffer.from(signed);
  const chunk = edited.indexOf('tEXtparameters\0', 8, 'latin1');
  edited.write('A', chunk + 'tEXtparameters\0'.length, 'latin1');
  const length = edited.readUInt32BE(chunk - 4);
  edited.writeUInt32BE(crc32(edited.subarray(chunk, chunk + 4 + length)) >>> 0, chunk + 4 + length);
  const report = await readProvenance(edited);
  assert.deepEqual([report.state, report.errors.map((error) => error.split(':')[0])], ['invalid', ['assertion.dataHash.mismatch']]);
  assert.deepEqual((await validateWithC2paTs(edited)).failed, ['assertion.dataHash.mismatch']);
});

test('an edit of an edit keeps the whole chain: each input is the parent ingredient with its own manifest', async () => {
  const first = await signImage(await noiseImage('image/png', 3), 'image/png', claimOf('00000000-0000-4000-8000-000000000001'), signer);
  const edit = (input: Uint8Array, seed: number, recordId: string) =>
    noiseImage('image/png', seed).then((bytes) => signImage(bytes, 'image/png', claimOf(recordId, { softwareAgent: 'sd-inpaint', edit: { input: { bytes: input, mediaType: 'image/png', title: 'input.png' } } }), signer));
  const second = await edit(first, 4, '00000000-0000-4000-8000-000000000002');
  const third = await edit(second, 5, '00000000-0000-4000-8000-000000000003');

  const report = await readProvenance(third);
  assert.equal(report.state, 'valid', report.errors.join('; '));
  const edited = [{ action: 'c2pa.opened' }, { action: 'c2pa.edited', softwareAgent: 'sd-inpaint', digitalSourceType: trainedAlgorithmicMedia }];
  assert.deepEqual(report.actions, edited);
  const [parent] = report.ingredients;
  assert.deepEqual({ ...parent, manifest: undefined }, { title: 'input.png', relationship: 'parentOf', hasManifest: true, state: 'valid', manifest: undefined });
  assert.deepEqual(parent!.manifest!.actions, edited);
  assert.equal(parent!.manifest!.record?.recordId, '00000000-0000-4000-8000-000000000002');
  const origin = parent!.manifest!.ingredients[0]!.manifest!;
  assert.deepEqual(origin.actions, [{ action: 'c2pa.created', softwareAgent: 'stabilityai/sd-turbo', digitalSourceType: trainedAlgorithmicMedia }]);
  assert.equal(origin.record?.recordId, '00000000-0000-4000-8000-000000000001');

  const independent = await validateWithC2paTs(third);
  assert.equal(independent.result.isValid, true, independent.failed.join(', '));
  assert.equal(independent.store.manifests.length, 3);
});

test("a hosted provider's own credentials are kept as the parent ingredient, never silently replaced", async () => {
  // A provider's output signed by its own claim generator, as OpenAI's and Adobe's come.
  const provider = Builder.withJson({ claim_generator_info: [{ name: 'hosted-provider', version: '1' }], assertions: [{ label: 'c2pa.actions', data: { actions: [{ action: 'c2pa.created', digitalSourceType: trainedAlgorithmicMedia, softwareAgent: { name: 'gpt-image-1' } }] } }] }, { builder: { thumbnail: { enabled: false } } });
  const hosted = new Uint8Array(await signer.sign(provider, { buffer: Buffer.from(await noiseImage('image/png', 6)), mimeType: 'image/png' }));

  await assert.rejects(signImage(hosted, 'image/png', claimOf('3c1e0d2b-5a4f-4e6d-8c7b-9a0f1e2d3c04'), signer), isInvalidArgument('bytes', /already carries C2PA credentials.*hostedIngredient/));
  // What pixelpipe stores: the provider's pixels re-encoded with its record chunks, signed with the provider's file as parent.
  const stored = insertTextChunks(await sharp(hosted).png().toBuffer(), [{ keyword: 'parameters', text: parameters }]);
  const input = await noiseImage('image/jpeg', 7);
  const signed = await signImage(stored, 'image/png', claimOf('3c1e0d2b-5a4f-4e6d-8c7b-9a0f1e2d3c04', { softwareAgent: 'openai:gpt-image-1', hostedIngredient: { bytes: hosted, mediaType: 'image/png' }, edit: { input: { bytes: input, mediaType: 'image/jpeg' } } }), signer);

  const report = await readProvenance(signed);
  assert.equal(report.state, 'valid', report.errors.join('; '));
  assert.deepEqual(report.actions, [{ action: 'c2pa.opened' }]);
  assert.deepEqual(report.ingredients.map(({ title, relationship, hasManifest }) => ({ title, relationship, hasManifest })), [
    { title: 'hosted-output.png', relationship: 'parentOf', hasManifest: true },
    { title: 'edit-input.jpg', relationship: 'inputTo', hasManifest: false },
  ]);
  assert.equal(report.ingredients[0]!.manifest!.claimGenerator, 'hosted-provider/1');
  assert.deepEqual(report.ingredients[0]!.manifest!.actions, [{ action: 'c2pa.created', softwareAgent: 'gpt-image-1', digitalSourceType: trainedAlgorithmicMedia }]);
  assert.equal((await validateWithC2paTs(signed)).result.isValid, true);
});

test('a remote signer (KMS, HSM) signs through its hook, after a test signature proves the hook holds the certificate key', async () => {
  const key = createPrivateKey(await readFile(development.keyPath));
  const remote = await createRemoteSigner({ certificatePath: development.certificatePath, sign: async (bytes) => sign('sha256', bytes, key) });
  const signed = await signImage(await noiseImage('image/jpeg', 8), 'image/jpeg', claimOf('5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716'), remote);
  assert.equal((await readProvenance(signed)).state, 'valid');
  assert.equal((await validateWithC2paTs(signed)).result.isValid, true);

  const otherKey = createPrivateKey(await readFile((await writeDevelopmentCertificates(join(work, 'other'))).keyPath));
  await assert.rejects(createRemoteSigner({ certificatePath: development.certificatePath, sign: async (bytes) => sign('sha256', bytes, otherKey) }), isInvalidArgument('sign', /does not verify with the signing certificate in PIXELPIPE_C2PA_CERT/));
  await assert.rejects(createRemoteSigner({ certificatePath: development.certificatePath, sign: () => Promise.reject(new Error('access denied')) }), isInvalidArgument('sign', /failed to make a test signature: access denied/));
});

/** A signing certificate from a throwaway CA, with one thing changed, written beside its key. */
async function issueCertificate(name: string, change: { notBefore?: Date; notAfter?: Date; keyUsage?: number; extendedKeyUsage?: string[]; subject?: string; selfSigned?: boolean } = {}) {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const generate = () => webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
  const [caKeys, keys] = await Promise.all([generate(), generate()]);
  const now = Date.now();
  const common = { serialNumber: '4e01', notBefore: change.notBefore ?? new Date(now - 60_000), notAfter: change.notAfter ?? new Date(now + 86_400_000), signingAlgorithm: algorithm };
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(change.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(change.extendedKeyUsage ?? [x509.ExtendedKeyUsage.emailProtection]),
    await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto),
  ];
  const subject = change.subject ?? 'CN=test signer, O=pixelpipe tests';
  const certificate = change.selfSigned
    ? await x509.X509CertificateGenerator.createSelfSigned({ ...common, name: subject, keys, extensions }, webcrypto)
    : await x509.X509CertificateGenerator.create({ ...common, subject, issuer: 'CN=test CA, O=pixelpipe tests', publicKey: keys.publicKey, signingKey: caKeys.privateKey, extensions }, webcrypto);
  const certificatePath = join(work, `${name}-cert.pem`);
  const keyPath = join(work, `${name}-key.pem`);
  await writeFile(certificatePath, certificate.toString('pem'));
  await writeFile(keyPath, x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));
  return { certificatePath, keyPath };
}

test('a certificate or key that C2PA would refuse is refused at load, naming the file, the problem and the fix', async () => {
  const day = 86_400_000;
  const refused = async (files: { certificatePath: string; keyPath: string }, setting: string, pattern: RegExp) =>
    assert.rejects(loadFileSigner(files), (error) => isInvalidArgument(setting, pattern)(error) && (error as Error).message.includes(setting === 'PIXELPIPE_C2PA_CERT' ? files.certificatePath : files.keyPath));

  await refused(await issueCertificate('expired', { notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) }), 'PIXELPIPE_C2PA_CERT', /expired on \d{4}-.*renew it.*pixelpipe provenance init/);
  await refused(await issueCertificate('future', { notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 2 * day) }), 'PIXELPIPE_C2PA_CERT', /not valid until .*clock/);
  await refused(await issueCertificate('no-signature-usage', { keyUsage: x509.KeyUsageFlags.keyEncipherment }), 'PIXELPIPE_C2PA_CERT', /lacks the digitalSignature key usage.*keyUsage digitalSignature/);
  await refused(await issueCertificate('server-usage', { extendedKeyUsage: [x509.ExtendedKeyUsage.serverAuth] }), 'PIXELPIPE_C2PA_CERT', /no extended key usage C2PA accepts .*it has 1\.3\.6\.1\.5\.5\.7\.3\.1.*emailProtection \(1\.3\.6\.1\.5\.5\.7\.3\.4\)/);
  await refused(await issueCertificate('self-signed', { selfSigned: true }), 'PIXELPIPE_C2PA_CERT', /self-signed; C2PA needs a signing certificate issued by a CA; run `pixelpipe provenance init`/);
  await refused(await issueCertificate('no-organisation', { subject: 'CN=test signer' }), 'PIXELPIPE_C2PA_CERT', /no organization \(O=\).*claimSignature\.mismatch/);
  await refused({ certificatePath: development.certificatePath, keyPath: (await issueCertificate('other-key')).keyPath }, 'PIXELPIPE_C2PA_KEY', /is not the key of the signing certificate in PIXELPIPE_C2PA_CERT/);
  await refused({ certificatePath: join(work, 'missing.pem'), keyPath: development.keyPath }, 'PIXELPIPE_C2PA_CERT', /does not exist; .*run `pixelpipe provenance init`/);
  await refused({ certificatePath: development.certificatePath, keyPath: development.caPath }, 'PIXELPIPE_C2PA_KEY', /not an unencrypted PEM private key/);
  await refused({ certificatePath: development.keyPath, keyPath: development.keyPath }, 'PIXELPIPE_C2PA_CERT', /holds no PEM certificate/);
});

test('readProvenance: a file that is not an image is refused, an image without credentials is absent, a damaged manifest is invalid', async () => {
  await assert.rejects(readProvenance(Buffer.from('{"not": "an image"}'), undefined, { name: 'notes.json' }), isInvalidArgument('bytes', /notes\.json is not a PNG, JPEG, WebP or GIF image \(its first bytes are 7b 22 6e/));
  await assert.rejects(readProvenance(await noiseImage('image/png', 9), 'image/jpeg'), isInvalidArgument('mediaType', /says image\/jpeg but the file is image\/png/));
  assert.deepEqual(await readProvenance(await noiseImage('image/webp', 9)), { state: 'absent', trusted: false, actions: [], ingredients: [], errors: [] });

  // The record's prompt rewritten inside the manifest: the assertion no longer matches the hash the signed claim holds.
  const damaged = Buffer.from(await signImage(await noiseImage('image/png', 9), 'image/png', claimOf('7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d'), signer));
  const manifestChunk = damaged.indexOf('caBX', 8, 'latin1');
  const length = damaged.readUInt32BE(manifestChunk - 4);
  damaged.write('A', damaged.indexOf('a lighthouse', manifestChunk, 'latin1'), 'latin1');
  damaged.writeUInt32BE(crc32(damaged.subarray(manifestChunk, manifestChunk + 4 + length)) >>> 0, manifestChunk + 4 + length);
  const report = await readProvenance(damaged);
  assert.equal(report.state, 'invalid');
  assert.deepEqual(report.errors.map((error) => error.split(':')[0]), ['assertion.hashedURI.mismatch']);
});

test('`provenance init` writes certificates that sign, prints the settings, warns they are untrusted, and replaces them only with --force', async () => {
  const run = async (argv: string[]) => {
    let stdout = '';
    let stderr = '';
    await provenanceCommand(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, environment: { PIXELPIPE_DATA_DIR: join(work, 'data') } });
    return { stdout, stderr };
  };
  const folder = join(work, 'data', 'provenance');
  const { stdout, stderr } = await run(['init']);
  assert.equal(stdout, `PIXELPIPE_C2PA_CERT=${join(folder, 'c2pa-cert.pem')}\nPIXELPIPE_C2PA_KEY=${join(folder, 'c2pa-key.pem')}\n`);
  assert.match(stderr, /UNTRUSTED.*\n.*development only.*C2PA trust list/);
  const initialised = await loadFileSigner({ certificatePath: join(folder, 'c2pa-cert.pem'), keyPath: join(folder, 'c2pa-key.pem') });
  assert.equal((await readProvenance(await signImage(await noiseImage('image/png', 10), 'image/png', claimOf('6f5e4d3c-2b1a-4098-8f7e-6d5c4b3a2910'), initialised))).state, 'valid');

  const key = await readFile(join(folder, 'c2pa-key.pem'), 'utf8');
  await assert.rejects(run(['init']), isInvalidArgument('dir', /c2pa-cert\.pem.*already exist; replace them with --force/));
  assert.equal(await readFile(join(folder, 'c2pa-key.pem'), 'utf8'), key);
  await run(['init', '--force']);
  assert.notEqual(await readFile(join(folder, 'c2pa-key.pem'), 'utf8'), key);
  assert.match((await run(['init', '--dir', join(work, 'elsewhere')])).stdout, /elsewhere\/c2pa-cert\.pem/);
});
