// The web UI in a real browser (Debian's chromium through playwright-core) against the real service: PGlite, the tiny model, the built assets.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';
import { createDatabase, defaultDatabaseConfig } from '../../service/database/create-database.js';
import type { Database } from '../../service/database/database.js';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import { RecordStore } from '../../service/records/record-store.js';
import { sharedFile, sharedRoot, testData } from '../../testing/paths.js';
import { createHttpApp } from '../http/http-app.js';
import { startHttpServer, type HttpServer } from '../http/http-server.js';
import { expandProject, loadProject } from '../../service/specs/index.js';
import { buildWebAssets } from './build-web.js';

const chromiumPath = '/usr/bin/chromium';
const skip = existsSync(chromiumPath) ? false : `NOT RUN: ${chromiumPath} is absent; install it with \`bash scripts/install-chromium.sh\``;
if (skip && process.env.CI === 'true') throw new Error(`chromium is missing in CI: ${chromiumPath}; .ci/run installs it with scripts/install-chromium.sh`);
if (skip) console.warn(`\n!!! ${skip}\n`);

/** Screenshots of each page, kept as test artifacts (CI can upload the folder); docs/images holds chosen ones. */
const artifacts = join(process.env.PIXELPIPE_TEST_ARTIFACTS ?? join(import.meta.dirname, '../../../test-results'), 'web-ui');
const screenshot = async (page: Page, name: string) => void (await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true }));

/** How long a condition is waited for; the conditions are polled, nothing sleeps. */
const timeout = 30_000;
const fastDecoderPath = join(sharedRoot, 'fixtures', 'vaelight', 'VAEpreview.onnx');

describe('web UI (chromium, real service on PGlite, tiny model)', { skip }, () => {
  let dataDir: string;
  let database: Database;
  let service: RunningImageService;
  let server: HttpServer;
  let browser: Browser;
  let axeSource: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-web-'));
    const webRoot = join(dataDir, 'web');
    await buildWebAssets({ outDir: webRoot });
    axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    // Opened here so a test can add many records straight into it.
    database = await createDatabase(defaultDatabaseConfig({ dataDirectory: dataDir }));
    service = await createImageService({
      database,
      // No watermark: the inpainting test compares the kept pixels of the stored image with the input's, exactly.
      // The fast decoder (../shared) makes the form offer "Fast (draft)"; its own test fails in CI without it.
      settings: { dataDir, cacheDir: join(dataDir, 'models'), watermark: false, ...(existsSync(fastDecoderPath) ? { fastDecoder: fastDecoderPath } : {}) },
      defaultModel: testData('fixtures', 'tiny-sd15'),
      isolation: 'in-process',
      pollingIntervalSeconds: 0.1,
      queue: { retryLimit: 0, queueName: `web-${Math.random().toString(36).slice(2, 10)}` },
      onNotice: () => undefined,
    });
    server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, webRoot }) });
    browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox', '--disable-gpu'] });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    await service?.close();
    await database?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A fresh page (empty localStorage) that fails the test on any console error or uncaught exception. */
  async function open(path: string): Promise<{ page: Page; problems: string[] }> {
    // axe-core is injected as an inline script, which the page's Content-Security-Policy would refuse.
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(`${server.url}${path}`);
    return { page, problems };
  }

  /** axe-core's serious and critical violations on the page as it is now. */
  async function accessibilityProblems(page: Page): Promise<string[]> {
    await page.addScriptTag({ content: axeSource });
    // Strings, since this file is type-checked without the DOM library: they run in the page.
    const violations = (await page.evaluate(`axe.run(document).then((result) => result.violations.map((violation) => ({
      id: violation.id, impact: violation.impact, help: violation.help, targets: violation.nodes.map((node) => node.target.join(' ')),
    })))`)) as { id: string; impact: string; help: string; targets: string[] }[];
    return violations.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical').map((violation) => `${violation.id} (${violation.impact}): ${violation.help} at ${violation.targets.join(', ')}`);
  }

  /** Fills the form for a quick 64×64 image and submits it; resolves once the job shows its result. */
  async function generate(page: Page, prompt: string): Promise<void> {
    await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached' });
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    await page.getByLabel('Width').fill('64');
    await page.getByLabel('Height').fill('64');
    await page.getByLabel('Steps').fill('6');
    await page.getByRole('button', { name: 'Generate' }).click();
    const job = page.getByRole('listitem', { name: `Job: ${prompt}` });
    await job.getByRole('img', { name: /^Result 1:/ }).waitFor();
  }

  it('serves the app at / and its client-side routes with caching headers; the API keeps its routes and its 404s', async () => {
    const index = await fetch(`${server.url}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const html = await index.text();
    const script = /src="(\/assets\/main-[\w]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const asset = await fetch(`${server.url}${script}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(asset.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.equal((await fetch(`${server.url}/history/some-id`)).headers.get('cache-control'), 'no-cache');
    const unknownApi = await fetch(`${server.url}/v1/nothing-here`);
    assert.equal(unknownApi.status, 404);
    assert.equal(((await unknownApi.json()) as { error: { code: string } }).error.code, 'route_not_found');
    assert.equal((await fetch(`${server.url}/assets/missing-123.js`)).status, 404);
    const unknownPage = await fetch(`${server.url}/nope`);
    assert.equal(unknownPage.status, 404, 'only the app\'s own pages answer index.html');
    assert.equal(((await unknownPage.json()) as { error: { code: string } }).error.code, 'route_not_found');
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
  });

  it('where the model has a fast decoder the form offers it, and a draft made with it is recorded as fast-decoded', async (t) => {
    if (!sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx')) return;
    const { page, problems } = await open('/');
    await page.getByLabel('Model').locator('option', { hasText: 'tiny-sd15' }).waitFor({ state: 'attached' });
    await page.getByLabel('Decoder').selectOption('fast');
    await generate(page, 'a quick draft of a cube');
    const [latest] = (await service.listRecords({ limit: 1 })).records;
    assert.equal(latest?.request.prompt, 'a quick draft of a cube');
    assert.equal(latest?.settings.decoder?.type, 'fast');
    // The record's page asks for the fast decoder again: in its command, and when reproducing.
    await page.getByRole('listitem', { name: 'Job: a quick draft of a cube' }).getByRole('link').first().click();
    await page.getByRole('heading', { name: /^Image / }).waitFor();
    assert.match((await page.getByRole('row', { name: /^Decoder/ }).locator('td').textContent())!, /^Fast \(VAEpreview\.onnx, [0-9a-f]{10}\), not the model's VAE$/);
    assert.match((await page.locator('#snippet-cli').textContent())!, / --decoder fast /);
    const reproduced = await submittedBody(page, () => page.getByRole('button', { name: 'Reproduce' }).click());
    assert.equal(reproduced.decoder, 'fast');
    await page.getByText('Same pixels: the model made this image again, bit for bit.').waitFor();
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('the generate page loads with no console errors and no serious accessibility violations', async () => {
    const { page, problems } = await open('/');
    await page.getByRole('heading', { name: 'Generate' }).waitFor();
    await page.getByLabel('Model').locator('option', { hasText: 'tiny-sd15' }).waitFor({ state: 'attached' });
    assert.deepEqual(await accessibilityProblems(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('generating from the form shows the steps as they run and the result, which then appears in history', async () => {
    const { page, problems } = await open('/');
    // Every status line the job card shows, however briefly.
    await page.evaluate(`{
      const seen = (window.seen = []);
      new MutationObserver(() => document.querySelectorAll('.job-status, .job .preview').forEach((node) => seen.push(node instanceof HTMLImageElement ? 'preview' : node.textContent ?? '')))
        .observe(document.body, { subtree: true, childList: true, characterData: true });
    }`);
    const prompt = 'web ui: a red square';
    await generate(page, prompt);
    const seen = (await page.evaluate('window.seen')) as string[];
    assert.ok(seen.some((text) => /step \d+ of 6 · [\d.]+ steps\/s/.test(text)), `a step with its rate was shown: ${JSON.stringify([...new Set(seen)])}`);
    assert.ok(seen.includes('preview'), 'a step preview was shown');
    assert.equal(await page.getByRole('listitem', { name: `Job: ${prompt}` }).locator('.job-status').textContent(), 'Done');
    await screenshot(page, 'generate');

    await page.getByRole('link', { name: 'History' }).click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    await page.getByRole('link', { name: new RegExp(prompt) }).first().waitFor();
    await page.locator('.tile img').first().waitFor();
    await screenshot(page, 'history');
    assert.deepEqual(await accessibilityProblems(page), []);

    // Provider and date filters are the API's `provider`, `since` and `until`.
    const day = (offset: number) => new Date(Date.now() + offset * 86_400_000).toLocaleDateString('sv');
    const shown = page.getByRole('link', { name: new RegExp(prompt) });
    await page.getByLabel('Provider').selectOption('local');
    await shown.first().waitFor();
    await page.getByLabel('From', { exact: true }).fill(day(1));
    await page.getByText('No records match.').waitFor();
    await page.getByLabel('From', { exact: true }).fill(day(0));
    await page.getByLabel('To', { exact: true }).fill(day(0));
    await shown.first().waitFor();
    await page.getByLabel('From', { exact: true }).fill('');
    await page.getByLabel('To', { exact: true }).fill(day(-1));
    await page.getByText('No records match.').waitFor();
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('several jobs at once: the queue panel shows what runs and each waiting job\'s position, and a cancel leaves it', async () => {
    const { page, problems } = await open('/');
    await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached' });
    await page.evaluate(`{
      const seen = (window.queueSeen = []);
      new MutationObserver(() => { const panel = document.querySelector('.queue-panel'); if (panel) seen.push(panel.textContent); })
        .observe(document.body, { subtree: true, childList: true, characterData: true });
    }`);
    await page.getByLabel('Width').fill('64');
    await page.getByLabel('Height').fill('64');
    // Long enough that the first still runs while the other two are submitted.
    await page.getByLabel('Steps').fill('60');
    const prompts = ['queue: first', 'queue: second', 'queue: third'];
    for (const prompt of prompts) {
      await page.getByLabel('Prompt', { exact: true }).fill(prompt);
      await page.getByRole('button', { name: 'Generate' }).click();
      await page.getByRole('listitem', { name: `Job: ${prompt}` }).waitFor();
    }
    // The third waits behind the second: cancel it from its card.
    const third = page.getByRole('listitem', { name: 'Job: queue: third' });
    await third.getByRole('button', { name: 'Cancel' }).click();
    await third.locator('.job-status', { hasText: 'Cancelled' }).waitFor();
    for (const prompt of prompts.slice(0, 2)) await page.getByRole('listitem', { name: `Job: ${prompt}` }).getByRole('img', { name: /^Result 1:/ }).waitFor();
    await page.locator('.queue-summary', { hasText: 'Nothing of yours is running or waiting.' }).waitFor();
    await screenshot(page, 'queue');
    const seen = (await page.evaluate('window.queueSeen')) as string[];
    assert.ok(seen.some((text) => /1 running · 2 waiting/.test(text) && /Position 1: queue: second/.test(text) && /Position 2: queue: third/.test(text)), `the panel showed one running and two waiting in order: ${JSON.stringify([...new Set(seen)])}`);
    assert.ok(seen.some((text) => /1 running · 0 waiting/.test(text) || /1 running · 1 waiting/.test(text)), 'the panel followed the queue as it moved');
    assert.deepEqual(await accessibilityProblems(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('a history of hundreds of records pages to the end, fetches only the images near the viewport, and not twice', async () => {
    const { page, problems } = await open('/');
    await generate(page, 'a single real image');
    // Copies of one generated record, each with an image of its own, written straight into the database and the blob
    // store: the grid is what is tested, not the model.
    const [template] = (await service.listRecords({ prompt: 'a single real image' })).records;
    const { id: _id, createdAt: _createdAt, jobId: _jobId, ...draft } = template!;
    const count = 600;
    const blobs = await Promise.all(Array.from({ length: count }, async (_, index) => {
      const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: index % 256, g: Math.floor(index / 256), b: 90 } } }).png().toBuffer();
      return await service.storage.put(png, { mediaType: 'image/png' });
    }));
    await new RecordStore(database).insert(database, blobs.map((blob, index) => ({ ...draft, blobKey: blob.key, sha256: blob.sha256, request: { ...draft.request, prompt: `history bulk ${index}` } })));

    // A short window: each round of paging shows the end of the newest page, and the tiles above it are never near the viewport.
    await page.setViewportSize({ width: 1000, height: 500 });
    let blobRequests = 0;
    page.on('request', (request) => void (new URL(request.url()).pathname.startsWith('/v1/blobs/') && (blobRequests += 1)));
    await page.getByRole('link', { name: 'History', exact: true }).click();
    const filtered = page.waitForResponse((response) => new URL(response.url()).searchParams.get('prompt') === 'history bulk');
    await page.getByLabel('Prompt contains').fill('history bulk');
    await filtered;
    const status = page.locator('.help[aria-live="polite"]');
    await status.filter({ hasText: /^60 shown; more below\.$/ }).waitFor();
    await page.locator('.tile img').first().waitFor();
    // From here on, every image fetched is one of these tiles' (the unfiltered page before held others).
    const [imagesBefore, requestsBefore] = [await page.locator('.tile img').count(), blobRequests];
    for (let round = 0; round < 40 && (await status.textContent()) !== `${count} shown.`; round++) {
      await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
      await page.waitForFunction(`document.querySelector('.help[aria-live="polite"]').textContent !== 'Loading…'`);
    }
    assert.equal(await status.textContent(), `${count} shown.`);
    // Windowed: only the rows near the viewport are in the page; at the bottom, the last is the 600th record.
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    await page.waitForFunction(`document.querySelector('.grid .tile:last-child')?.getAttribute('aria-posinset') === '${count}'`);
    const rendered = await page.locator('.tile').count();
    assert.ok(rendered < 100, `${rendered} tiles are in the page for ${count} records`);
    assert.equal(await page.locator('.tile').last().getAttribute('aria-setsize'), String(count));
    await page.locator('.tile').last().locator('img').waitFor();
    const fetched = blobRequests - requestsBefore + imagesBefore;
    assert.ok(fetched < count / 2, `only tiles that came near the viewport fetch their image: ${fetched} of ${count}`);
    // Away (past the rendered rows) and back: the tiles come back with the images already fetched.
    await page.evaluate('window.scrollBy(0, -5000)');
    await page.waitForFunction(`Number(document.querySelector('.grid .tile:last-child')?.getAttribute('aria-posinset')) < ${count - 40}`);
    await page.waitForFunction(`[...document.querySelectorAll('.tile')].some((tile) => tile.getBoundingClientRect().top > 0 && tile.querySelector('img'))`);
    const requestsAway = blobRequests;
    await page.evaluate('window.scrollTo(0, document.body.scrollHeight)');
    await page.waitForFunction(`document.querySelector('.grid .tile:last-child')?.getAttribute('aria-posinset') === '${count}'`);
    await page.locator('.tile').last().locator('img').waitFor();
    assert.equal(blobRequests, requestsAway, 'images scrolled back into view are not fetched again');
    // Back at the top, the first tiles are rendered again.
    await page.evaluate('window.scrollTo(0, 0)');
    await page.waitForFunction(`document.querySelector('.grid .tile')?.getAttribute('aria-posinset') === '1'`);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('on a phone-width screen (390 px) no page is wider than the screen; a file dropped on the edit page is its input', async () => {
    const { page, problems } = await open('/');
    await page.setViewportSize({ width: 390, height: 844 });
    const widths: Record<string, number> = {};
    const width = () => page.evaluate('document.documentElement.scrollWidth') as Promise<number>;
    await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached' });
    widths['/'] = await width();
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    const input = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#336699' } }).png().toBuffer();
    // Dropped on the image area rather than picked.
    const dropped = await page.evaluateHandle(`(() => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([Uint8Array.from(atob('${input.toString('base64')}'), (character) => character.charCodeAt(0))], 'dropped.png', { type: 'image/png' }));
      return transfer;
    })()`);
    await page.dispatchEvent('.drop', 'drop', { dataTransfer: dropped });
    await page.getByRole('img', { name: /^Mask:/ }).waitFor();
    assert.match((await page.locator('#edit-image-help').textContent())!, /dropped\.png, 512 × 512/);
    widths['/edit'] = await width();
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.getByRole('heading', { name: 'History' }).waitFor();
    widths['/history'] = await width();
    assert.deepEqual(widths, { '/': 390, '/edit': 390, '/history': 390 });
    await screenshot(page, 'history-phone');
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('a size the API refuses shows its error next to the size field; a size typed while the model list loads is kept', async () => {
    const context = await browser.newContext({ bypassCSP: true });
    const page = await context.newPage();
    page.setDefaultTimeout(timeout);
    // The model list (and with it the model's default size) arrives only after the width is typed.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.route('**/v1/models', async (route) => {
      await held;
      await route.continue();
    });
    await page.goto(`${server.url}/`);
    await page.getByLabel('Width').fill('32');
    await page.getByLabel('Prompt', { exact: true }).fill('too small');
    release();
    await page.getByLabel('Model').locator('option').first().waitFor({ state: 'attached' });
    // The defaults have arrived (steps were empty and take the model's), the typed width stayed.
    await page.waitForFunction(`document.getElementById('field-steps')?.value === '25'`);
    assert.equal(await page.getByLabel('Width').inputValue(), '32');
    await page.getByRole('button', { name: 'Generate' }).click();
    const error = page.locator('.field-width .field-error');
    await error.waitFor();
    assert.match((await error.textContent()) ?? '', /`width`.*64/);
    assert.equal(await page.getByLabel('Width').getAttribute('aria-invalid'), 'true');
    // The control names its error, so a screen reader reads it with the field.
    assert.match((await page.getByLabel('Width').getAttribute('aria-describedby')) ?? '', /field-width-error/);
    await page.context().close();
  });

  it('a record\'s detail view shows its settings, reproduces it with the same pixels, and "use these settings" fills the form', async () => {
    const prompt = 'web ui: settings to reuse';
    const { page, problems } = await open('/');
    await generate(page, prompt);
    await page.getByRole('listitem', { name: `Job: ${prompt}` }).getByRole('link').first().click();
    await page.getByRole('heading', { name: /^Image / }).waitFor();
    const seed = (await page.getByRole('row', { name: /^Seed/ }).locator('td').textContent())!;
    assert.match(seed, /^\d+$/);
    assert.match((await page.locator('#snippet-cli').textContent())!, new RegExp(`^pixelpipe generate '${prompt}' .*--width 64 --height 64 --steps 6 .*--seed ${seed}`));
    assert.match((await page.locator('#snippet-curl').textContent())!, /\/v1\/jobs/);
    // The spec snippet is a spec `pixelpipe build` takes, asking for the same image.
    const project = await mkdtemp(join(tmpdir(), 'pixelpipe-web-spec-'));
    const snippet = (await page.locator('#snippet-spec').textContent())!;
    await writeFile(join(project, 'pixelpipe.yaml'), `version: 1\nspecs:\n${snippet.replace(/^/gm, '  ')}\n`);
    const [output] = expandProject(await loadProject(project));
    await rm(project, { recursive: true, force: true });
    assert.deepEqual([output!.request.prompt, output!.request.width, output!.request.height, output!.request.steps, output!.request.seed], [prompt, 64, 64, 6, seed]);
    await page.getByRole('link', { name: 'Download' }).waitFor();
    await screenshot(page, 'image');
    assert.deepEqual(await accessibilityProblems(page), []);

    // Reproduce runs the request again with the record's seed and compares the model's pixels.
    const original = new URL(page.url()).pathname.split('/').pop()!;
    const reproduced = await submittedBody(page, () => page.getByRole('button', { name: 'Reproduce' }).click());
    assert.equal(reproduced.seed, seed);
    assert.equal(reproduced.n, 1);
    assert.equal(reproduced.prompt, prompt);
    await page.getByText('Same pixels: the model made this image again, bit for bit.').waitFor();
    await page.getByRole('link', { name: 'Open the new image' }).click();
    await page.getByRole('heading', { name: /^Image / }).waitFor();
    const copy = new URL(page.url()).pathname.split('/').pop()!;
    assert.notEqual(copy, original);
    const [first, second] = await Promise.all([original, copy].map(async (id) => (await (await fetch(`${server.url}/v1/records/${id}`)).json()) as { pixelSha256: string; sha256: string }));
    assert.equal(second!.pixelSha256, first!.pixelSha256, 'the UI said "same" because the API\'s pixel hashes are equal');
    await page.goBack();
    await page.getByRole('heading', { name: `Image ${original.slice(0, 8)}` }).waitFor();

    await page.getByRole('button', { name: 'Use these settings' }).click();
    await page.getByRole('heading', { name: 'Generate' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/');
    assert.equal(await page.getByLabel('Prompt', { exact: true }).inputValue(), prompt);
    assert.equal(await page.getByLabel('Width').inputValue(), '64');
    assert.equal(await page.getByLabel('Steps').inputValue(), '6');
    assert.equal(await page.getByLabel('Fixed').isChecked(), true);
    assert.equal(await page.getByLabel('Seed value').inputValue(), seed);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  /** The painted mask's alpha at image pixel (x, y), read from the canvas in the page. */
  const maskAlpha = (page: Page, x: number, y: number) => page.evaluate(`document.querySelector('.mask-stage canvas').getContext('2d').getImageData(${x}, ${y}, 1, 1).data[3]`) as Promise<number>;

  /** Drags the mouse over the mask canvas from one image pixel to another (the canvas is shown larger than the image). */
  async function paint(page: Page, from: [number, number], to: [number, number]): Promise<void> {
    const canvas = page.getByRole('img', { name: /^Mask:/ });
    // Clicking a tool may have scrolled the page; a point outside the viewport would reach no element.
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    const at = ([x, y]: [number, number]) => [box.x + ((x + 0.5) * box.width) / 64, box.y + ((y + 0.5) * box.height) / 64] as const;
    await page.mouse.move(...at(from));
    await page.mouse.down();
    for (let step = 1; step <= 8; step++) await page.mouse.move(at(from)[0] + ((at(to)[0] - at(from)[0]) * step) / 8, at(from)[1] + ((at(to)[1] - at(from)[1]) * step) / 8);
    await page.mouse.up();
  }

  /** The JSON body of the next `POST /v1/jobs` the page sends while `act` runs. */
  async function submittedBody(page: Page, act: () => Promise<void>): Promise<Record<string, any>> {
    const request = page.waitForRequest((candidate) => candidate.method() === 'POST' && new URL(candidate.url()).pathname === '/v1/jobs');
    await act();
    return JSON.parse((await request).postData()!) as Record<string, any>;
  }

  it('the edit page paints a mask over an uploaded image (brush, eraser, invert, undo) and sends it exactly as painted', async () => {
    const input = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 40, g: 120, b: 200 } } }).png().toBuffer();
    const { page, problems } = await open('/edit');
    await page.getByRole('heading', { name: 'Edit' }).waitFor();
    await page.getByLabel('Input image').setInputFiles({ name: 'input.png', mimeType: 'image/png', buffer: input });
    await page.getByRole('img', { name: /^Mask:/ }).waitFor();
    assert.match((await page.locator('#edit-image-help').textContent())!, /input\.png, 64 × 64/);

    await paint(page, [8, 8], [8, 56]);
    assert.equal(await maskAlpha(page, 8, 32), 255, 'the brush painted where it was dragged');
    assert.equal(await maskAlpha(page, 32, 32), 0);
    await paint(page, [56, 8], [56, 56]);
    assert.equal(await maskAlpha(page, 56, 32), 255);
    // Keyboard only: the tools are buttons in the tab order.
    await page.getByRole('button', { name: 'Invert' }).focus();
    await page.keyboard.press('Enter');
    assert.equal(await maskAlpha(page, 32, 32), 255, 'invert paints what was not painted');
    assert.equal(await maskAlpha(page, 8, 32), 0);
    await page.getByRole('button', { name: 'Undo' }).click();
    assert.equal(await maskAlpha(page, 32, 32), 0, 'undo takes the invert back');
    await page.getByRole('button', { name: 'Eraser' }).click();
    assert.equal(await page.getByRole('button', { name: 'Eraser' }).getAttribute('aria-pressed'), 'true');
    await paint(page, [56, 8], [56, 56]);
    assert.equal(await maskAlpha(page, 56, 32), 0, 'the eraser unpaints');
    await page.getByRole('button', { name: 'Undo' }).click();
    assert.equal(await maskAlpha(page, 56, 32), 255, 'undo brings the erased stroke back');
    await page.getByRole('button', { name: 'Undo' }).click();
    assert.equal(await maskAlpha(page, 56, 32), 0, 'a second undo takes the second stroke back');
    assert.equal(await maskAlpha(page, 8, 32), 255, 'and keeps the first');

    await screenshot(page, 'edit');
    const prompt = 'web ui: repaint the left edge';
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    await page.getByLabel('Strength').fill('0.9');
    const body = await submittedBody(page, () => page.getByRole('button', { name: 'Edit image' }).click());
    assert.equal(body.images[0].b64_json, `data:image/png;base64,${input.toString('base64')}`, 'the uploaded file is sent as it was');
    assert.equal(body.maskConvention, 'luminance');
    assert.equal(body.strength, 0.9);
    const { data, info } = await sharp(Buffer.from(body.mask.b64_json.replace(/^data:[^,]*,/, ''), 'base64')).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.width, info.height], [64, 64], 'the mask has the image\'s size');
    const grey = (x: number, y: number) => data[y * 64 + x];
    assert.equal(grey(8, 32), 255, 'painted: white (repaint)');
    assert.equal(grey(32, 32), 0, 'unpainted: black (keep)');
    assert.equal(grey(56, 32), 0, 'the undone stroke is not in the mask');
    const painted = [...data].filter((value) => value > 0).length;
    assert.ok(painted > 5 * 40 && painted < 10 * 64, `one stroke of about 5 × 50 pixels is painted, got ${painted}`);

    const job = page.getByRole('listitem', { name: `Job: ${prompt}` });
    await job.getByRole('img', { name: /^Result 1:/ }).waitFor();
    assert.equal(await job.locator('.job-status').textContent(), 'Done');
    // Inpainted: every pixel the mask kept is the input's, and the painted stroke changed.
    const [record] = (await service.listRecords({ prompt })).records;
    const result = await sharp((await service.storage.get(record!.blobKey))!.bytes).removeAlpha().raw().toBuffer();
    const original = await sharp(input).raw().toBuffer();
    const differs = (x: number, y: number) => [0, 1, 2].some((channel) => result[(y * 64 + x) * 3 + channel] !== original[(y * 64 + x) * 3 + channel]);
    const keptChanged = Array.from({ length: 64 * 64 }, (_, index) => [index % 64, Math.floor(index / 64)] as const).filter(([x, y]) => grey(x, y) === 0 && differs(x, y));
    assert.deepEqual(keptChanged, [], 'kept pixels are the input\'s');
    assert.ok([20, 32, 44].some((y) => differs(8, y)), 'the painted stroke was repainted');
    assert.deepEqual(await accessibilityProblems(page), []);
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  it('a record used as input image is outpainted; the result links back to it', async () => {
    const { page, problems } = await open('/');
    await generate(page, 'web ui: an image to extend');
    await page.getByRole('listitem', { name: 'Job: web ui: an image to extend' }).getByRole('link').first().click();
    await page.getByRole('heading', { name: /^Image / }).waitFor();
    const parentId = new URL(page.url()).pathname.split('/').pop()!;
    const parent = (await (await fetch(`${server.url}/v1/records/${parentId}`)).json()) as { blobKey: string };
    await page.getByRole('button', { name: 'Use as input image' }).click();
    await page.getByRole('heading', { name: 'Edit' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/edit');
    assert.match((await page.locator('#edit-image-help').textContent())!, new RegExp(`Record ${parentId.slice(0, 8)}, 64 × 64`));
    await page.getByRole('img', { name: /^Mask:/ }).waitFor();

    const prompt = 'web ui: extended to the right';
    await page.getByLabel('Prompt', { exact: true }).fill(prompt);
    // Drag the right handle out by the image's shown width: 64 image pixels.
    const handle = page.getByRole('button', { name: /^Extend right/ });
    await handle.scrollIntoViewIfNeeded();
    const stage = (await page.locator('.mask-stage').boundingBox())!;
    const grip = (await handle.boundingBox())!;
    await page.mouse.move(grip.x + grip.width / 2, grip.y + grip.height / 2);
    await page.mouse.down();
    for (let step = 1; step <= 8; step++) await page.mouse.move(grip.x + grip.width / 2 + (stage.width * step) / 8, grip.y + grip.height / 2);
    await page.mouse.up();
    assert.equal(await page.getByLabel('Right', { exact: true }).inputValue(), '64');
    await page.locator('.extension-frame').waitFor();
    // From the keyboard: a focused handle moves by 8 pixels per arrow key.
    await page.getByRole('button', { name: /^Extend bottom/ }).focus();
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.getByLabel('Bottom', { exact: true }).inputValue(), '16');
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowUp');
    assert.equal(await page.getByLabel('Bottom', { exact: true }).inputValue(), '');
    const body = await submittedBody(page, () => page.getByRole('button', { name: 'Edit image' }).click());
    assert.deepEqual(body.images, [{ blobKey: parent.blobKey }], 'the stored image is named, not uploaded again');
    assert.equal(body.parentRecordId, parentId);
    assert.deepEqual(body.extend, { right: 64 });
    assert.equal(body.mask, undefined, 'nothing was painted');

    const job = page.getByRole('listitem', { name: `Job: ${prompt}` });
    await job.getByRole('img', { name: /^Result 1:/ }).waitFor();
    await job.getByRole('link').first().click();
    await page.getByRole('heading', { name: /^Image / }).waitFor();
    assert.equal(await page.getByRole('row', { name: /^Size/ }).locator('td').textContent(), '128 × 64');
    await page.getByRole('row', { name: /^Edited from/ }).getByRole('link').click();
    await page.getByRole('heading', { name: `Image ${parentId.slice(0, 8)}` }).waitFor();
    assert.deepEqual(problems, []);
    await page.context().close();
  });

  // Last: once a key exists, the server asks every request for one.
  it('with API keys on, the UI asks for a key, keeps it, and then works', async () => {
    const { secret } = await service.keys.create({ name: 'web ui' });
    // The server caches "no keys exist" for a moment; poll until it asks for one.
    for (let start = Date.now(); (await fetch(`${server.url}/v1/models`)).status !== 401; ) {
      assert.ok(Date.now() - start < timeout, 'the server never started asking for an API key');
      await new Promise((resolve) => setImmediate(resolve));
    }
    const { page } = await open('/');
    const dialog = page.getByRole('dialog', { name: 'This server needs an API key' });
    await dialog.waitFor();
    await dialog.getByLabel('API key').fill(secret);
    await dialog.getByRole('button', { name: 'Use this key' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(`localStorage.getItem('pixelpipe.apiKey')`), secret);
    await generate(page, 'web ui: with a key');
    await page.reload();
    await page.getByLabel('Model').locator('option', { hasText: 'tiny-sd15' }).waitFor({ state: 'attached' });
    assert.equal(await page.getByRole('dialog').count(), 0, 'the stored key is used after a reload');

    // Another key's image stays out of this key's history.
    const other = await service.keys.create({ name: 'another team' });
    const { job } = await service.submit({ prompt: 'web ui: another key\'s image', width: 64, height: 64, steps: 2 }, { apiKey: other.key });
    while ((await service.listRecords({ jobId: job.id })).records.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await page.getByRole('link', { name: 'History', exact: true }).click();
    await page.getByLabel('Prompt contains').fill('web ui:');
    await page.getByRole('link', { name: /web ui: with a key/ }).first().waitFor();
    assert.equal(await page.getByRole('link', { name: /another key's image/ }).count(), 0);
    await page.getByLabel('Prompt contains').fill('another key');
    await page.getByText('No records match.').waitFor();
    await page.context().close();
  });
});
