// Validation by @trustnxt/c2pa-ts, an implementation of C2PA that shares no code with c2pa-rs (which signs):
// its own parsing, signature check and hash binding, so tests check what we sign against a second reader.
import assert from 'node:assert/strict';
import { JPEG, PNG, type Asset } from '@trustnxt/c2pa-ts/asset';
import { SuperBox, type CBORBox } from '@trustnxt/c2pa-ts/jumbf';
import { ActionAssertion, ManifestStore } from '@trustnxt/c2pa-ts/manifest';

/** c2pa-ts reads JPEG and PNG but has no WebP parser; the manifest is a RIFF chunk, and its hash check needs only the bytes. */
class RiffAsset implements Asset {
  readonly mimeType = 'image/webp';
  constructor(private readonly data: Uint8Array) {}
  getDataLength = () => this.data.byteLength;
  getDataRange = async (start = 0, length = this.data.byteLength - start) => this.data.subarray(start, start + length);
  dumpInfo = () => 'RIFF WebP';
  getManifestJUMBF(): Uint8Array | undefined {
    const view = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    for (let offset = 12; offset + 8 <= view.length; ) {
      const size = view.readUInt32LE(offset + 4);
      if (view.toString('latin1', offset, offset + 4) === 'C2PA') return this.data.subarray(offset + 8, offset + 8 + size);
      offset += 8 + size + (size & 1);
    }
    return undefined;
  }
  ensureManifestSpace = (): Promise<void> => Promise.reject(new Error('only read here'));
  getHashExclusionRange = (): never => {
    throw new Error('only read here');
  };
  writeManifestJUMBF = (): Promise<void> => Promise.reject(new Error('only read here'));
}

/** Validates with c2pa-ts: its own parsing, signature check and hash binding, no code shared with c2pa-rs. */
export async function validateWithC2paTs(bytes: Uint8Array) {
  const asset: Asset = JPEG.canRead(bytes) ? new JPEG(bytes) : PNG.canRead(bytes) ? new PNG(bytes) : new RiffAsset(bytes);
  const jumbf = asset.getManifestJUMBF();
  assert.ok(jumbf, 'c2pa-ts finds a manifest store');
  const store = ManifestStore.read(SuperBox.fromBuffer(jumbf as Uint8Array<ArrayBuffer>));
  const result = await store.validate(asset);
  const manifest = store.getActiveManifest()!;
  const assertions = manifest.assertions?.assertions ?? [];
  const actions = assertions.filter((assertion) => assertion instanceof ActionAssertion).flatMap((assertion) => assertion.actions);
  const record = assertions.find((assertion) => assertion.label === 'ai.pixelpipe.record')?.sourceBox?.contentBoxes[0] as CBORBox | undefined;
  const failed = result.statusEntries.filter((entry) => !entry.success).map((entry) => entry.code);
  return { store, manifest, result, actions, record: record?.content as { recordId: string } | undefined, failed, codes: result.statusEntries.map((entry): string => entry.code) };
}

