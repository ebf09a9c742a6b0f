// `npm run bench:upscale`: seconds per input megapixel of the bundled esrgan-slim upscalers, tiled and whole, on the package's fixture photo.
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { esrganSlimDirectory, loadEsrganSlim } from '../src/engine/upscale/esrgan-slim.js';
import { upscaleTiled } from '../src/engine/upscale/tiled-upscale.js';

const { values } = parseArgs({ options: { size: { type: 'string', default: '512' }, scales: { type: 'string', default: '2,4' }, tiles: { type: 'string', default: '256,128,0' }, runs: { type: 'string', default: '2' } } });
const size = Number(values.size);
const runs = Number(values.runs);

// A real photo (the fixture upscalerjs ships), resized to size × size: model time does not depend on content, but tiles and PNG sizes look realistic.
const data = new Uint8Array(await sharp(join(esrganSlimDirectory(), 'assets', 'fixture.png')).removeAlpha().resize(size, size, { fit: 'fill' }).raw().toBuffer());
const megapixels = (size * size) / 1e6;
process.stdout.write(`esrgan-slim on ${size}×${size} (${megapixels.toFixed(3)} MP in), onnxruntime-node CPU, ${availableParallelism()} × ${cpus()[0]?.model ?? 'cpu'}; best of ${runs} runs after a warm-up\n`);
process.stdout.write('| scale | tile | seconds | s per input MP | output |\n|---|---|---|---|---|\n');
for (const scale of values.scales.split(',').map(Number)) {
  const loadStarted = performance.now();
  const upscaler = await loadEsrganSlim(scale);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  for (const tile of values.tiles.split(',').map(Number)) {
    await upscaleTiled(upscaler, { data: data.subarray(0, 64 * 64 * 3), width: 64, height: 64 }, { tile });
    let best = Infinity;
    for (let run = 0; run < runs; run++) {
      const started = performance.now();
      await upscaleTiled(upscaler, { data, width: size, height: size }, { tile });
      best = Math.min(best, (performance.now() - started) / 1000);
    }
    process.stdout.write(`| x${scale} | ${tile === 0 ? 'whole' : tile} | ${best.toFixed(2)} | ${(best / megapixels).toFixed(2)} | ${size * scale}×${size * scale} |\n`);
  }
  process.stdout.write(`(x${scale}: convert + load ${loadSeconds.toFixed(2)} s)\n`);
  await upscaler.release();
}
