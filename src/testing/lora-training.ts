// Test material for LoRA training: distinct training images, small safetensors files, a ustar archive, and the trainers' mock routes.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import type { MockApiServer } from './mock-api-server.js';

/** `count` PNGs of `side`² whose 8×8 random block patterns differ, so neither their bytes nor their difference hashes match. */
export async function writeTrainingImages(folder: string, count: number, { side = 512, prefix = 'brand' } = {}): Promise<string[]> {
  const files: string[] = [];
  let state = 12345;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let index = 0; index < count; index++) {
    const blocks = Buffer.alloc(8 * 8 * 3);
    for (let byte = 0; byte < blocks.length; byte++) blocks[byte] = Math.floor(next() * 256);
    const png = await sharp(blocks, { raw: { width: 8, height: 8, channels: 3 } }).resize(side, side, { kernel: 'nearest' }).png().toBuffer();
    const file = `${prefix}-${String(index + 1).padStart(2, '0')}.png`;
    await writeFile(join(folder, file), png);
    files.push(file);
  }
  return files;
}

/** A valid safetensors file holding one F32 LoRA tensor of 2×2. */
export function safetensorsFile(): Uint8Array {
  const header = Buffer.from(JSON.stringify({ __metadata__: { format: 'pt' }, 'lora_unet_single_blocks_0_linear1.lora_down.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.byteLength));
  return new Uint8Array(Buffer.concat([length, header, Buffer.from(new Float32Array([0.1, 0.2, 0.3, 0.4]).buffer)]));
}

/** An uncompressed tar holding `bytes` at `path`, as Replicate's `trained_model.tar`. */
export function tarFile(path: string, bytes: Uint8Array): Uint8Array {
  const header = Buffer.alloc(512);
  header.write(path, 0, 'latin1');
  header.write('0000644\0', 100, 'latin1');
  header.write(`${bytes.byteLength.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  header.write('0', 156, 'latin1');
  header.write('ustar\0', 257, 'latin1');
  const padding = Buffer.alloc((512 - (bytes.byteLength % 512)) % 512);
  return new Uint8Array(Buffer.concat([header, Buffer.from(bytes), padding, Buffer.alloc(1024)]));
}

/** Replicate's files, model, trainings and delivery routes for one training `t1` that goes through `statuses`. */
export function routeReplicateTraining(server: MockApiServer, { statuses = ['processing', 'succeeded'], weights = tarFile('output/flux_train_replicate/lora.safetensors', safetensorsFile()), error }: { statuses?: string[]; weights?: Uint8Array; error?: string } = {}): void {
  const training = (status: string) => ({
    id: 't1',
    status,
    logs: status === 'processing' ? 'flux_train_replicate:  1%|          | 10/1000 [00:05<08:15,  2.00it/s]' : '',
    error: status === 'failed' ? (error ?? 'CUDA out of memory') : null,
    output: status === 'succeeded' ? { version: 'acme/brand-lora:abc', weights: `${server.url}/delivery/t1/trained_model.tar` } : null,
    urls: { get: `${server.url}/trainings/t1`, cancel: `${server.url}/trainings/t1/cancel` },
  });
  server.route('POST', '/files', { status: 201, json: { id: 'f1', name: 'brand.zip', content_type: 'application/zip', size: 1, urls: { get: `${server.url}/files/f1` } } });
  server.route('GET', '/models/ostris/flux-dev-lora-trainer', { json: { owner: 'ostris', name: 'flux-dev-lora-trainer', latest_version: { id: 'v1' } } });
  server.route('POST', '/models/ostris/flux-dev-lora-trainer/versions/v1/trainings', { status: 201, json: training('starting') });
  server.route('GET', '/trainings/t1', ...statuses.map((status) => ({ json: training(status) })));
  server.route('POST', '/trainings/t1/cancel', { json: training('canceled') });
  server.route('GET', '/delivery/t1/trained_model.tar', { body: weights, headers: { 'content-type': 'application/x-tar' } });
}

/** fal's storage and queue routes for one training `r1`. */
export function routeFalTraining(server: MockApiServer, { weights = safetensorsFile(), statuses = [{ status: 'IN_QUEUE', queue_position: 0 }, { status: 'IN_PROGRESS', logs: [{ message: 'step 10/1000' }] }, { status: 'COMPLETED', logs: [] }] as object[] } = {}): void {
  const app = '/fal-ai/flux-lora-fast-training';
  server.route('POST', '/storage/upload/initiate', { json: { upload_url: `${server.url}/upload/u1`, file_url: `${server.url}/files/u1.zip` } });
  server.route('PUT', '/upload/u1', { json: {} });
  server.route('POST', app, { json: { request_id: 'r1', status_url: `${server.url}${app}/requests/r1/status`, response_url: `${server.url}${app}/requests/r1`, cancel_url: `${server.url}${app}/requests/r1/cancel` } });
  server.route('GET', `${app}/requests/r1/status`, ...statuses.map((json) => ({ json })));
  server.route('PUT', `${app}/requests/r1/cancel`, { status: 202, json: { status: 'CANCELLATION_REQUESTED' } });
  server.route('GET', `${app}/requests/r1`, { json: { diffusers_lora_file: { url: `${server.url}/weights/r1.safetensors`, content_type: 'application/octet-stream', file_name: 'pytorch_lora_weights.safetensors' }, config_file: { url: `${server.url}/weights/r1.json` } } });
  server.route('GET', '/weights/r1.safetensors', { body: weights });
}
