// PreviewDecoder/PreviewEncoder on the real VAElight models (third-party, read from ../shared), and the hand-written bilinear resize against torch.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sharedFile } from '../../testing/paths.js';
import type { RgbImage } from '../image/rgb-image.js';
import { OnnxModel } from '../runtime/onnx-model.js';
import { latentToRgb } from './latent-rgb.js';
import { PreviewDecoder, PreviewEncoder, upsampleBilinear } from './preview-decoder.js';

test('upsampleBilinear matches torch F.interpolate(mode="bilinear", align_corners=False)', () => {
  // torch.nn.functional.interpolate(torch.tensor([[[[1., 2.], [3., 4.]]]]), size=(4, 4), mode='bilinear')
  const square = upsampleBilinear(Float32Array.of(1, 2, 3, 4), 1, 2, 2, 4, 4);
  assert.deepEqual([...square], [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  // a 1×3 row to 1×6 per channel: edges clamp (−0.25 → 0, 2.25 → 2); the second channel stays apart
  const row = upsampleBilinear(Float32Array.of(0, 10, 20, 100, 100, 100), 2, 1, 3, 1, 6);
  assert.deepEqual([...row], [0, 2.5, 7.5, 12.5, 17.5, 20, 100, 100, 100, 100, 100, 100]);
});

/** A photo-like 8-bit image: sky-to-ground gradients, a soft horizon, three soft blobs and mild ripples. */
function makeTestImage(size: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  const blobs = [
    { x: 0.3, y: 0.35, radius: 0.18, color: [200, 60, 50] },
    { x: 0.7, y: 0.6, radius: 0.22, color: [40, 120, 200] },
    { x: 0.5, y: 0.8, radius: 0.12, color: [240, 210, 80] },
  ];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / (size - 1);
      const v = y / (size - 1);
      const ground = 1 / (1 + Math.exp(-(v - 0.55 - 0.05 * Math.sin(u * 6)) * 40));
      let rgb = [90 + 100 * v, 140 + 60 * u - 40 * v, 200 - 80 * v].map((sky, i) => sky * (1 - ground) + [70, 110, 50][i]! * ground);
      for (const blob of blobs) {
        const distance = Math.hypot(u - blob.x, v - blob.y) / blob.radius;
        const weight = Math.exp(-2 * distance * distance);
        rgb = rgb.map((value, i) => value * (1 - weight) + blob.color[i]! * weight);
      }
      const ripple = 3 * Math.sin(x * 0.9 + 2 * Math.sin(y * 0.3)) + 3 * Math.sin(y * 0.7 + x * 0.2);
      for (let channel = 0; channel < 3; channel++) data[(y * size + x) * 3 + channel] = Math.max(0, Math.min(255, Math.round(rgb[channel]! + ripple)));
    }
  }
  return { data, width: size, height: size };
}

function psnr(reference: RgbImage, image: RgbImage): number {
  assert.equal(image.width, reference.width);
  assert.equal(image.height, reference.height);
  let squares = 0;
  for (let i = 0; i < reference.data.length; i++) squares += (reference.data[i]! - image.data[i]!) ** 2;
  return 10 * Math.log10((255 * 255) / (squares / reference.data.length));
}

/** Mean of each 8×8 block: what a latent cell stands for. */
function blockMeans({ data, width, height }: RgbImage): RgbImage {
  const out = new Float64Array((width / 8) * (height / 8) * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let channel = 0; channel < 3; channel++) out[((y >> 3) * (width / 8) + (x >> 3)) * 3 + channel]! += data[(y * width + x) * 3 + channel]! / 64;
    }
  }
  return { data: Uint8Array.from(out, Math.round), width: width / 8, height: height / 8 };
}

function vaelight(t: TestContext): { decoder: string; encoder: string } | undefined {
  const decoder = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!decoder) return undefined;
  const encoder = sharedFile(t, 'fixtures', 'vaelight', 'VAEencoder.onnx');
  return encoder ? { decoder, encoder } : undefined;
}

test('VAEpreview returns a pyramid: output at the latent size, 101 at 2×, 92 at 4×, 77 at 8×', async (t) => {
  const files = vaelight(t);
  if (!files) return;
  const model = await OnnxModel.load(files.decoder, 'preview_decoder');
  try {
    const outputs = await model.run({ latent: { data: new Float32Array(4 * 5 * 7), dims: [1, 4, 5, 7] } });
    const sizes = Object.fromEntries(Object.entries(outputs).map(([name, output]) => [name, output.dims]));
    assert.deepEqual(sizes, { output: [1, 3, 5, 7], 101: [1, 3, 10, 14], 92: [1, 3, 20, 28], 77: [1, 3, 40, 56] });
  } finally {
    await model.release();
  }
});

test('encode then decode a 256×256 photo-like image: 8× the latent size, at least 23 dB', async (t) => {
  const files = vaelight(t);
  if (!files) return;
  const [encoder, decoder] = await Promise.all([PreviewEncoder.load(files.encoder), PreviewDecoder.load(files.decoder)]);
  try {
    const image = makeTestImage(256);
    const { latents, shape } = await encoder.encode(image);
    assert.deepEqual(shape, { channels: 4, height: 32, width: 32 });
    const decoded = await decoder.decode(latents, shape);
    assert.equal(decoded.width, 8 * shape.width);
    assert.equal(decoded.height, 8 * shape.height);
    const quality = psnr(image, decoded);
    t.diagnostic(`round trip PSNR ${quality.toFixed(2)} dB`);
    assert.ok(quality >= 23, `round trip PSNR ${quality.toFixed(2)} dB is under 23 dB`);
  } finally {
    await Promise.all([encoder.release(), decoder.release()]);
  }
});

test('the encoder speaks the diffusion space: unit-scale latents that ComfyUI\'s SD15 latent→RGB factors read as the image', async (t) => {
  const files = vaelight(t);
  if (!files) return;
  const encoder = await PreviewEncoder.load(files.encoder);
  try {
    const image = makeTestImage(256);
    const { latents, shape } = await encoder.encode(image);
    let sum = 0;
    let squares = 0;
    for (const value of latents) {
      sum += value;
      squares += value * value;
    }
    const deviation = Math.sqrt(squares / latents.length - (sum / latents.length) ** 2);
    // Raw SD VAE latents are ~5× larger (1 / 0.18215); VAEencoder itself emits those (std ≈ 3.6 here).
    assert.ok(deviation > 0.3 && deviation < 1.5, `latent std ${deviation.toFixed(3)} is not in the diffusion space's range`);
    const scaled = psnr(blockMeans(image), latentToRgb(latents, shape, 'sd1'));
    const unscaled = psnr(blockMeans(image), latentToRgb(latents.map((value) => value / 0.18215), shape, 'sd1'));
    t.diagnostic(`latent std ${deviation.toFixed(3)}; latent→RGB against 8×8 block means: ${scaled.toFixed(2)} dB (raw-space latents: ${unscaled.toFixed(2)} dB)`);
    assert.ok(scaled >= 18, `latent→RGB of the encoded image scores ${scaled.toFixed(2)} dB`);
    assert.ok(scaled > unscaled + 8);
  } finally {
    await encoder.release();
  }
});

test('the full-size output alone is only a correction: the summed pyramid beats it by far and is no worse than the 1/8 base alone', async (t) => {
  const files = vaelight(t);
  if (!files) return;
  const [encoder, decoder, model] = await Promise.all([PreviewEncoder.load(files.encoder), PreviewDecoder.load(files.decoder), OnnxModel.load(files.decoder, 'preview_decoder')]);
  try {
    const image = makeTestImage(256);
    const { latents, shape } = await encoder.encode(image);
    const summed = psnr(image, await decoder.decode(latents, shape));
    const outputs = await model.run({ latent: { data: latents.map((value) => value / 0.18215), dims: [1, 4, shape.height, shape.width] } });
    const alone = (name: string) => {
      const output = outputs[name]!;
      const [, , height, width] = output.dims!;
      const planes = upsampleBilinear(output, 3, height!, width!, 256, 256);
      const data = new Uint8Array(256 * 256 * 3);
      for (let channel = 0; channel < 3; channel++) {
        for (let i = 0; i < 256 * 256; i++) data[i * 3 + channel] = Math.round(Math.min(1, Math.max(0, (planes[channel * 256 * 256 + i]! + 1) / 2)) * 255);
      }
      return psnr(image, { data, width: 256, height: 256 });
    };
    const fullSize = alone('77');
    const base = alone('output');
    t.diagnostic(`summed ${summed.toFixed(2)} dB, 1/8 base alone ${base.toFixed(2)} dB, full-size output alone ${fullSize.toFixed(2)} dB`);
    assert.ok(summed > fullSize + 5);
    assert.ok(summed > base - 0.5);
  } finally {
    await Promise.all([encoder.release(), decoder.release(), model.release()]);
  }
});

test('images whose sides are not multiples of 8 are refused, naming the side', async (t) => {
  const files = vaelight(t);
  if (!files) return;
  const encoder = await PreviewEncoder.load(files.encoder);
  try {
    await assert.rejects(encoder.encode({ data: new Uint8Array(60 * 64 * 3), width: 60, height: 64 }), /`image\.width` must be a positive multiple of 8, got 60/);
  } finally {
    await encoder.release();
  }
});
