// `npm run bench:provenance`: the time each finishing step adds to an image (screening, watermark, record,
// C2PA signature), per step and as a share of a 512² generation, on images the engine made.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createPixelpipe } from '../src/service/pixelpipe.js';
import { writeDevelopmentCertificates } from '../src/service/provenance/c2pa-keys.js';
import { createImageFinishing, watermarkPayload, type EncodedImage, type FinishingContext } from '../src/service/provenance/image-finishing.js';
import { signerFromSettings, watermarker } from '../src/service/provenance/service-finishing.js';
import { createModeration } from '../src/service/safety/moderation.js';
import { defaultModerationPolicy } from '../src/service/safety/moderation-policy.js';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '8' },
    size: { type: 'string', default: '512' },
    // The full-size SD-Turbo generation of README's `npm run bench -- --only full` (512², 2 steps) on this class of machine.
    'generation-ms': { type: 'string', default: '14525' },
  },
});
const count = Number(values.count);
const size = Number(values.size);
const generationMs = Number(values['generation-ms']);

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-provenance-bench-'));
try {
  const pixelpipe = createPixelpipe({ cacheDir: join(work, 'models') });
  const images: EncodedImage[] = [];
  for (let seed = 0; seed < count; seed++) {
    const { images: [image] } = await pixelpipe.generate({ model: join(root, 'test-data/fixtures/tiny-sd15'), prompt: 'a red cube on a table', seed, steps: 1, width: size, height: size });
    images.push(image!);
  }
  await pixelpipe.close();

  const certificates = await writeDevelopmentCertificates(join(work, 'keys'));
  const signer = (await signerFromSettings({ c2paCert: certificates.certificatePath, c2paKey: certificates.keyPath, dataDir: work }, { onNotice: () => undefined }))!;
  const moderation = createModeration({ policy: defaultModerationPolicy });
  const context = (index: number): FinishingContext => ({
    recordId: `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`,
    request: { prompt: 'a red cube on a table', n: 1 },
    settings: { prompt: 'a red cube on a table', width: size, height: size },
    softwareAgent: 'local:tiny-sd15',
    hosted: false,
  });
  const loadStarted = performance.now();
  await moderation.checkImage(images[0]!, {});
  const firstCheck = performance.now() - loadStarted;

  const steps: Record<string, (image: EncodedImage, index: number) => Promise<unknown>> = {
    'screen (nsfwjs)': (image) => moderation.checkImage(image, {}),
    watermark: (image, index) => watermarker(image, watermarkPayload(context(index).recordId)),
    'record chunk': (image, index) => createImageFinishing({}).finish(image, context(index)),
    'record + C2PA sign': (image, index) => createImageFinishing({ signer }).finish(image, context(index)),
    'all (as stored)': (image, index) => createImageFinishing({ screen: async (screened) => ({ verdict: (await moderation.checkImage(screened, {})).verdict }), watermark: watermarker, signer }).finish(image, context(index)),
  };
  console.log(`== finishing ${count} engine images (tiny-sd15, ${size}×${size}); share of a ${generationMs} ms generation`);
  console.log(`nsfwjs model load and first check: ${firstCheck.toFixed(0)} ms (once per process)`);
  console.log('step                    median ms   max ms   share');
  for (const [name, step] of Object.entries(steps)) {
    const times: number[] = [];
    for (const [index, image] of images.entries()) {
      const started = performance.now();
      await step(image, index);
      times.push(performance.now() - started);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    console.log(`${name.padEnd(22)} ${median.toFixed(1).padStart(10)} ${times.at(-1)!.toFixed(1).padStart(8)}   ${((100 * median) / generationMs).toFixed(2)}%`);
  }
  await moderation.close();
} finally {
  rmSync(work, { recursive: true, force: true });
}
