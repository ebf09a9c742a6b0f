// `npm run bench:watermark`: how much of the invisible watermark survives common edits, on engine outputs and smooth images, with its cost in PSNR and time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { seededRandom } from '../src/service/provenance/watermark-transform.js';
import { embedWatermark, embedWatermarkPixels, readWatermarkPixels, watermarkBitAccuracy, watermarkPayloadBytes, type RawPixels } from '../src/service/provenance/watermark.js';
import { createPixelpipe } from '../src/service/pixelpipe.js';
import { psnr, rawPixels } from '../src/testing/images.js';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: { count: { type: 'string', default: '20' }, size: { type: 'string', default: '512' }, steps: { type: 'string', default: '2' }, smooth: { type: 'string', default: '8' } },
});
const size = Number(values.size);

/** The edits an image meets after it leaves pixelpipe, each applied to the watermarked PNG. */
const attacks: Record<string, (png: Buffer, width: number, height: number) => Promise<Buffer>> = {
  'none (PNG)': async (png) => png,
  'JPEG q75': (png) => sharp(png).jpeg({ quality: 75 }).toBuffer(),
  'JPEG q50': (png) => sharp(png).jpeg({ quality: 50 }).toBuffer(),
  'resize 0.5×': (png, width, height) => sharp(png).resize(Math.round(width / 2), Math.round(height / 2)).png().toBuffer(),
  'crop 10% per side': (png, width, height) => {
    const [left, top] = [Math.round(width * 0.1), Math.round(height * 0.1)];
    return sharp(png).extract({ left, top, width: width - 2 * left, height: height - 2 * top }).png().toBuffer();
  },
  'brightness +20%': (png) => sharp(png).modulate({ brightness: 1.2 }).png().toBuffer(),
  'PNG → WebP (q80)': (png) => sharp(png).webp().toBuffer(),
};

/** Smooth test images (gradients, flat colour, simple shapes): the hard case, with no texture to hide a change in. */
function smoothImage(kind: number, width: number, height: number): Promise<Buffer> {
  const scenes = [
    `<linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1d3c6e"/><stop offset="1" stop-color="#f2c98a"/></linearGradient><rect width="100%" height="100%" fill="url(#g)"/>`,
    `<radialGradient id="g"><stop offset="0" stop-color="#fff6d5"/><stop offset="1" stop-color="#4a6a3a"/></radialGradient><rect width="100%" height="100%" fill="url(#g)"/><circle cx="${width * 0.3}" cy="${height * 0.6}" r="${width * 0.2}" fill="#a33"/>`,
    `<rect width="100%" height="100%" fill="#87a9d6"/><rect y="${height * 0.65}" width="100%" height="${height * 0.35}" fill="#5c7d3b"/><circle cx="${width * 0.75}" cy="${height * 0.2}" r="${width * 0.08}" fill="#fff3b0"/><ellipse cx="${width * 0.4}" cy="${height * 0.3}" rx="${width * 0.2}" ry="${height * 0.06}" fill="#f4f4f4"/>`,
    `<rect width="100%" height="100%" fill="#808080"/>`,
    `<linearGradient id="g" x2="0" y2="1"><stop offset="0" stop-color="#000"/><stop offset="1" stop-color="#fff"/></linearGradient><rect width="100%" height="100%" fill="url(#g)"/>`,
    `<linearGradient id="g"><stop offset="0" stop-color="#e0533d"/><stop offset="0.5" stop-color="#f7e8c4"/><stop offset="1" stop-color="#3d7be0"/></linearGradient><rect width="100%" height="100%" fill="url(#g)"/>`,
    `<rect width="100%" height="100%" fill="#f8f8f8"/><rect x="${width * 0.2}" y="${height * 0.2}" width="${width * 0.6}" height="${height * 0.6}" rx="${width * 0.05}" fill="#2b6cb0"/>`,
    `<radialGradient id="g" cx="0.3" cy="0.3"><stop offset="0" stop-color="#fde68a"/><stop offset="1" stop-color="#7c2d12"/></radialGradient><rect width="100%" height="100%" fill="url(#g)"/>`,
  ];
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${scenes[kind % scenes.length]}</svg>`;
  return sharp(Buffer.from(svg)).removeAlpha().png().toBuffer();
}

interface Totals {
  accuracy: number;
  decoded: number;
  readMs: number;
}

async function measure(label: string, images: Buffer[]): Promise<void> {
  const random = seededRandom(7);
  const totals = new Map<string, Totals>(Object.keys(attacks).map((name) => [name, { accuracy: 0, decoded: 0, readMs: 0 }]));
  let psnrSum = 0;
  let psnrMin = Infinity;
  let embedBytesMs = 0;
  let embedPixelsMs = 0;
  let falsePayloads = 0;
  for (const png of images) {
    const payload = Uint8Array.from({ length: watermarkPayloadBytes }, () => Math.floor(random() * 256));
    const original = await rawPixels(png);
    let started = performance.now();
    embedWatermarkPixels(original, payload);
    embedPixelsMs += performance.now() - started;
    started = performance.now();
    const marked = Buffer.from(await embedWatermark(png, 'image/png', payload));
    embedBytesMs += performance.now() - started;
    const quality = psnr(original.data, (await rawPixels(marked)).data);
    psnrSum += quality;
    psnrMin = Math.min(psnrMin, quality);
    if (readWatermarkPixels(original) !== undefined) falsePayloads++;
    for (const [name, attack] of Object.entries(attacks)) {
      const pixels = await rawPixels(await attack(marked, original.width, original.height));
      started = performance.now();
      const found = readWatermarkPixels(pixels);
      const total = totals.get(name)!;
      total.readMs += performance.now() - started;
      if (found !== undefined && found.payload.every((byte, index) => byte === payload[index])) total.decoded++;
      total.accuracy += watermarkBitAccuracy(pixels, payload);
    }
  }
  const count = images.length;
  console.log(`\n== ${label}: ${count} images`);
  console.log(`PSNR ${(psnrSum / count).toFixed(2)} dB mean, ${psnrMin.toFixed(2)} dB min; embed ${(embedPixelsMs / count).toFixed(1)} ms on pixels, ${(embedBytesMs / count).toFixed(1)} ms PNG in and out; false payloads from the unmarked images: ${falsePayloads}`);
  console.log(`${'attack'.padEnd(20)} ${'bit accuracy'.padStart(12)} ${'exact decode'.padStart(14)} ${'read ms'.padStart(9)}`);
  for (const [name, total] of totals) {
    console.log(`${name.padEnd(20)} ${(total.accuracy / count).toFixed(4).padStart(12)} ${`${total.decoded}/${count}`.padStart(9)} ${((100 * total.decoded) / count).toFixed(0).padStart(3)}% ${(total.readMs / count).toFixed(1).padStart(9)}`);
  }
}

const cacheDir = mkdtempSync(join(tmpdir(), 'pixelpipe-watermark-bench-'));
const pixelpipe = createPixelpipe({ cacheDir });
const engineImages: Buffer[] = [];
try {
  console.log(`generating ${values.count} images at ${size}×${size} with tiny-sd15, ${values.steps} steps`);
  for (let seed = 0; seed < Number(values.count); seed++) {
    const result = await pixelpipe.generate({ model: join(root, 'test-data', 'fixtures', 'tiny-sd15'), prompt: `a watermark bench image ${seed}`, seed, steps: Number(values.steps), width: size, height: size });
    engineImages.push(Buffer.from(result.images[0]!.bytes));
  }
} finally {
  await pixelpipe.close();
  rmSync(cacheDir, { recursive: true, force: true });
}
await measure(`engine outputs (tiny-sd15, ${size}×${size})`, engineImages);
await measure(`smooth images (${size}×${size})`, await Promise.all(Array.from({ length: Number(values.smooth) }, (_, kind) => smoothImage(kind, size, size))));
