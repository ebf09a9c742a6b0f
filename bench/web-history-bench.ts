// `npm run bench:web`: the web UI's history with many records, in Debian's chromium against the real service (PGlite).
// It makes one image with the tiny model, copies its record N times straight into the database, each with a small
// image of its own in the blob store, then times the
// first page, paging to the end, and frame intervals while scrolling from the top to the bottom. A benchmark: it asserts nothing.
//
//   node --import tsx bench/web-history-bench.ts [--records 10000]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { createHttpApp } from '../src/interfaces/http/http-app.js';
import { startHttpServer } from '../src/interfaces/http/http-server.js';
import { buildWebAssets } from '../src/interfaces/web/build-web.js';
import { createDatabase, defaultDatabaseConfig } from '../src/service/database/create-database.js';
import { createImageService } from '../src/service/image-service.js';
import { RecordStore } from '../src/service/records/record-store.js';
import { testData } from '../src/testing/paths.js';

const { values } = parseArgs({ options: { records: { type: 'string', default: '10000' } } });
const count = Number(values.records);
if (!Number.isInteger(count) || count < 1) throw new Error(`\`--records\` must be a whole number of at least 1, got ${JSON.stringify(values.records)}`);

const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-web-bench-'));
const database = await createDatabase(defaultDatabaseConfig({ dataDirectory: dataDir }));
const service = await createImageService({ database, settings: { dataDir, moderationPolicy: 'off' }, defaultModel: testData('fixtures', 'tiny-sd15'), isolation: 'in-process', pollingIntervalSeconds: 0.1, onNotice: () => undefined });
const webRoot = join(dataDir, 'web');
await buildWebAssets({ outDir: webRoot });
const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, webRoot }) });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const { job } = await service.submit({ prompt: 'bench template', width: 64, height: 64, steps: 2 });
  let template;
  for (;;) {
    [template] = (await service.listRecords({ jobId: job.id })).records;
    if (template) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const { id: _id, createdAt: _createdAt, jobId: _jobId, ...draft } = template;
  const store = new RecordStore(database);
  for (let start = 0; start < count; start += 1000) {
    const indices = Array.from({ length: Math.min(1000, count - start) }, (_, index) => start + index);
    const blobs = await Promise.all(indices.map(async (index) => {
      const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: index % 256, g: Math.floor(index / 256) % 256, b: 90 } } }).png().toBuffer();
      return await service.storage.put(png, { mediaType: 'image/png' });
    }));
    await store.insert(database, indices.map((index, position) => ({ ...draft, blobKey: blobs[position]!.key, sha256: blobs[position]!.sha256, request: { ...draft.request, prompt: `bench record ${index}` } })));
  }

  // The page's strict Content-Security-Policy refuses the measuring scripts this process evaluates in it.
  const page = await (await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 800 } })).newPage();
  let blobRequests = 0;
  page.on('request', (request) => void (new URL(request.url()).pathname.startsWith('/v1/blobs/') && (blobRequests += 1)));
  const status = page.locator('.help[aria-live="polite"]');
  let started = performance.now();
  await page.goto(`${server.url}/history`);
  await page.locator('.tile img').first().waitFor();
  const firstPageMs = performance.now() - started;
  // The browser's own clock, from navigation: the first paint of the app's content.
  const firstContentfulPaint = (await page.evaluate(`performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN`)) as number;

  started = performance.now();
  let rounds = 0;
  while (!(await status.textContent())!.endsWith(' shown.')) {
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    await page.waitForFunction(`document.querySelector('.help[aria-live="polite"]').textContent !== 'Loading…'`);
    rounds += 1;
  }
  const pagingMs = performance.now() - started;
  const tiles = await page.locator('.tile').count();

  // Frame intervals while scrolling the whole grid, top to bottom, 400 px per frame.
  const frames = (await page.evaluate(`new Promise((resolve) => {
    window.scrollTo(0, 0);
    const intervals = [];
    let last = performance.now();
    const step = (now) => {
      intervals.push(now - last);
      last = now;
      if (window.scrollY + innerHeight >= document.body.scrollHeight) return resolve(intervals);
      window.scrollBy(0, 400);
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  })`)) as number[];
  const sorted = [...frames].sort((a, b) => a - b);
  const at = (quantile: number) => sorted[Math.min(sorted.length - 1, Math.floor(quantile * sorted.length))]!.toFixed(1);
  const heap = (await page.evaluate('performance.memory ? performance.memory.usedJSHeapSize : 0')) as number;
  console.log(`web history, ${count.toLocaleString('en-US')} records (${tiles.toLocaleString('en-US')} tiles), chromium ${browser.version()}, viewport 1280x800`);
  console.log(`first contentful paint: ${firstContentfulPaint.toFixed(0)} ms; first page with an image: ${firstPageMs.toFixed(0)} ms`);
  console.log(`paging to the end: ${(pagingMs / 1000).toFixed(1)} s in ${rounds} rounds (${(pagingMs / Math.max(1, rounds)).toFixed(0)} ms a page)`);
  console.log(`scroll top to bottom: ${frames.length} frames, interval p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${at(1)} ms`);
  console.log(`image requests: ${blobRequests.toLocaleString('en-US')} for ${tiles.toLocaleString('en-US')} tiles; page JS heap ${(heap / 2 ** 20).toFixed(0)} MiB`);
} finally {
  await browser.close();
  await server.close();
  await service.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}
