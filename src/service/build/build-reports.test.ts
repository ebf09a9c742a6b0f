// The reports of `pixelpipe build`: JSON round trip, well-formed JUnit XML with the right counts, and a contact sheet with real thumbnails.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import type { BuildReport, OutputReport } from './build-types.js';
import { writeBuildReports, type WrittenReports } from './build-reports.js';

async function png(width: number, height: number, red: number): Promise<Uint8Array> {
  return sharp({ create: { width, height, channels: 3, background: { r: red, g: 80, b: 160 } } }).png().toBuffer();
}

const oddPath = `out/odd <&"'>\u0001.png`;
const oddSpec = `odd <&"'> spec`;
const scriptPrompt = 'a red shoe <script>alert(1)</script>';
const failureMessage = 'every candidate was blocked by policy "strict" <&>\nlower the threshold in moderation.yaml \u001b[31m';

let root: string;
let reportDir: string;
let report: BuildReport;
let written: WrittenReports;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'pixelpipe-build-reports-'));
  reportDir = path.join(root, 'reports');
  const winner = await png(400, 300, 200);
  const runnerUp = await png(64, 64, 10);
  await mkdir(path.join(root, 'out/de-DE'), { recursive: true });
  await mkdir(path.join(root, 'out/fr-FR'), { recursive: true });
  await writeFile(path.join(root, 'out/de-DE/hero.png'), winner);
  // The same bytes as de-DE's file: the two share one thumbnail.
  await writeFile(path.join(root, 'out/fr-FR/hero.png'), winner);
  const portrait = await png(600, 800, 90);

  const base = { specFile: 'specs/hero.yaml', key: 'sha256:abc', width: 400, height: 300, negativePrompt: 'blurry' };
  const outputs: OutputReport[] = [
    {
      ...base,
      path: 'out/de-DE/hero.png',
      spec: 'hero',
      status: 'generated',
      prompt: scriptPrompt,
      model: 'sdxl-turbo',
      seed: '42',
      durationMs: 1500,
      generationMs: 1200,
      ranker: 'clip',
      recordId: 'rec_1',
      sha256: 'sha256:def',
      candidates: [
        { index: 0, seed: '42', score: 0.3125, rank: 1, chosen: true, load: async () => winner },
        { index: 1, seed: '43', score: 0.281, rank: 2, chosen: false, reason: 'the shoe is cropped', load: async () => runnerUp },
        // A second copy of the runner-up's bytes, in its own buffer.
        { index: 2, seed: '44', score: 0.281, rank: 3, chosen: false, load: async () => Uint8Array.from(runnerUp) },
        { index: 3, seed: '45', score: 0.2, rank: 4, chosen: false },
      ],
    },
    { ...base, path: 'out/fr-FR/hero.png', spec: 'hero', status: 'cached', prompt: 'ein roter Schuh', model: 'sdxl-turbo', seed: '7', durationMs: 0, candidates: [] },
    {
      ...base,
      path: 'out/it-IT/hero.png',
      spec: 'hero',
      status: 'failed',
      prompt: 'una scarpa rossa',
      seed: '9',
      durationMs: 2250,
      error: { code: 'moderation_blocked', message: failureMessage },
      candidates: [
        { index: 0, chosen: false, load: async () => undefined },
        {
          index: 1,
          chosen: false,
          load: async () => {
            throw new Error('record rec_9 is gone');
          },
        },
      ],
    },
    { ...base, path: oddPath, spec: oddSpec, specFile: 'specs/odd.yaml', status: 'skipped', prompt: `quotes <&"'> and a bell \u0007`, seed: '1', durationMs: 0, candidates: [] },
    {
      ...base,
      path: 'out/missing.png',
      spec: oddSpec,
      specFile: 'specs/odd.yaml',
      status: 'generated',
      prompt: 'a portrait',
      model: 'flux-schnell',
      seed: '5',
      durationMs: 800,
      ranker: 'aesthetic',
      candidates: [
        { index: 0, seed: '5', score: 6.5, rank: 1, chosen: true },
        { index: 1, seed: '6', score: 5.25, rank: 2, chosen: false, load: async () => portrait },
        { index: 2, seed: '7', score: 4, rank: 3, chosen: false, load: async () => new TextEncoder().encode('not an image') },
      ],
    },
  ];
  report = {
    project: 'shoes',
    startedAt: '2025-05-01T10:00:00.000Z',
    finishedAt: '2025-05-01T10:00:04.000Z',
    durationMs: 4000,
    backend: 'embedded',
    counts: { generated: 2, cached: 1, failed: 1, skipped: 1 },
    outputs,
  };
  // A thumbnail left by an earlier build that nothing links to, and a file that is not ours.
  await mkdir(path.join(reportDir, 'thumbs'), { recursive: true });
  await writeFile(path.join(reportDir, 'thumbs', `${'0'.repeat(64)}.webp`), 'stale');
  await writeFile(path.join(reportDir, 'thumbs', 'notes.txt'), 'keep');
  written = await writeBuildReports(report, { dir: reportDir, projectRoot: root });
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

test('the reports are written under the folder, named as documented, with absolute paths returned', () => {
  assert.deepEqual(written, {
    json: path.join(reportDir, 'build-report.json'),
    junit: path.join(reportDir, 'junit.xml'),
    html: path.join(reportDir, 'contact-sheet.html'),
  });
});

test('the JSON report round-trips the report without the load functions', async () => {
  const text = await readFile(written.json, 'utf8');
  assert.ok(!text.includes('"load"'));
  assert.ok(text.startsWith('{\n  "project": "shoes",'), 'two-space indent');
  const expected = {
    ...report,
    outputs: report.outputs.map((output) => ({ ...output, candidates: output.candidates.map(({ load: _load, ...candidate }) => candidate) })),
  };
  assert.deepEqual(JSON.parse(text), expected);
});

test('the JUnit XML is well-formed, with one suite per spec and the right counts and times', async () => {
  const root = parseXml(await readFile(written.junit, 'utf8'));
  assert.equal(root.name, 'testsuites');
  assert.deepEqual(pick(root.attributes, 'tests', 'failures', 'errors', 'skipped', 'time'), { tests: '5', failures: '1', errors: '0', skipped: '1', time: '4.000' });
  assert.deepEqual(
    root.children.map((suite) => pick(suite.attributes, 'name', 'tests', 'failures', 'skipped', 'time')),
    [
      { name: 'hero', tests: '3', failures: '1', skipped: '0', time: '3.750' },
      { name: oddSpec, tests: '2', failures: '0', skipped: '1', time: '0.800' },
    ],
  );
  const cases = root.children.flatMap((suite) => suite.children);
  assert.ok(cases.every((testCase) => testCase.name === 'testcase'));
  assert.deepEqual(
    cases.map((testCase) => pick(testCase.attributes, 'classname', 'name', 'time')),
    [
      { classname: 'hero', name: 'out/de-DE/hero.png', time: '1.500' },
      { classname: 'hero', name: 'out/fr-FR/hero.png', time: '0.000' },
      { classname: 'hero', name: 'out/it-IT/hero.png', time: '2.250' },
      // The control character, which XML 1.0 cannot hold, is shown rather than dropped.
      { classname: oddSpec, name: `out/odd <&"'>\\x01.png`, time: '0.000' },
      { classname: oddSpec, name: 'out/missing.png', time: '0.800' },
    ],
  );
  const [generated, cached, failed, skipped] = cases;
  const generatedOut = only(generated!, 'system-out').text;
  for (const fact of ['sdxl-turbo', 'seed 42', 'candidate index 0 of 4', 'by clip', 'score 0.313', scriptPrompt]) assert.ok(generatedOut.includes(fact), fact);
  assert.match(only(cached!, 'system-out').text, /^cached: out\/fr-FR\/hero.png was unchanged/);
  const failure = only(failed!, 'failure');
  // The attribute keeps the line break (as a reference) and replaces the escape character.
  assert.equal(failure.attributes.message, failureMessage.replace('\u001b', '\\x1b'));
  assert.equal(failure.attributes.type, 'moderation_blocked');
  assert.ok(failure.text.startsWith('moderation_blocked: every candidate was blocked by policy "strict" <&>'));
  assert.equal(only(skipped!, 'skipped').children.length, 0);
  assert.deepEqual(skipped!.children.map((child) => child.name), ['skipped']);
});

test('the contact sheet shows every output, escapes prompts and runs nothing', async () => {
  const html = await readFile(written.html, 'utf8');
  for (const output of report.outputs) assert.ok(html.includes(escapeHtml(output.path)), output.path);
  assert.ok(!/<script/i.test(html));
  assert.ok(html.includes('a red shoe &lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes(escapeHtml(failureMessage)));
  assert.ok(!/\b(src|href)="(https?:)?\/\//.test(html), 'no network references');
  // Grouped by spec: the second spec's heading comes after every hero output.
  assert.ok(html.indexOf(escapeHtml(oddSpec)) > html.indexOf('out/it-IT/hero.png'));
});

test('thumbnails exist, are small WebP named by their source, and identical images share one', async () => {
  const html = await readFile(written.html, 'utf8');
  const sources = [...html.matchAll(/<img [^>]*src="([^"]+)" width="(\d+)" height="(\d+)"/g)];
  const referenced = new Set(sources.map((match) => match[1]!));
  for (const [, src, width, height] of sources) {
    assert.match(src!, /^thumbs\/[0-9a-f]{64}\.webp$/);
    const metadata = await sharp(path.join(reportDir, src!)).metadata();
    assert.equal(metadata.format, 'webp');
    assert.ok(Math.max(metadata.width!, metadata.height!) <= 192);
    assert.deepEqual([String(metadata.width), String(metadata.height)], [width, height]);
  }
  // The shared winner file, the runner-up (twice, one file) and the portrait candidate.
  assert.equal(sources.length, 5);
  assert.equal(referenced.size, 3);
  const sizes = await Promise.all([...referenced].map(async (src) => sharp(path.join(reportDir, src)).metadata()));
  assert.deepEqual(sizes.map((metadata) => `${metadata.width}x${metadata.height}`).sort(), ['144x192', '192x144', '64x64']);
  const files = await readdir(path.join(reportDir, 'thumbs'));
  assert.deepEqual(files.filter((name) => name.endsWith('.webp')).sort(), [...referenced].map((src) => src.slice('thumbs/'.length)).sort());
  assert.ok(files.includes('notes.txt'), 'files that are not thumbnails are left alone');
});

test('an image that cannot be had gets a placeholder box instead of failing the report', async () => {
  const html = await readFile(written.html, 'utf8');
  const articleOf = (outputPath: string) => {
    const found = html.split('<article ').slice(1).find((article) => article.includes(escapeHtml(outputPath)));
    assert.ok(found, outputPath);
    return found;
  };
  const placeholders = (article: string) => [...article.matchAll(/class="placeholder [a-z]+" title="([^"]*)"/g)].map((match) => match[1]);
  assert.deepEqual(placeholders(articleOf('out/de-DE/hero.png')), ['no image']);
  assert.deepEqual(placeholders(articleOf('out/it-IT/hero.png')), ['failed', 'no image', 'unreadable: record rec_9 is gone']);
  const missing = placeholders(articleOf('out/missing.png'));
  assert.equal(missing.length, 2);
  assert.equal(missing[0], 'unreadable: file not found');
  assert.match(missing[1]!, /^unreadable: /);
  assert.ok(!html.includes(root), 'no absolute path of this machine');
});

test('thumbnails are made a few at a time, side by side', async () => {
  let inFlight = 0;
  let most = 0;
  const images = await Promise.all(Array.from({ length: 48 }, (_, index) => png(32, 32, index)));
  const outputs: OutputReport[] = Array.from({ length: 12 }, (_, output) => ({
    path: `out/${output}.png`,
    spec: 'bulk',
    specFile: 'specs/bulk.yaml',
    status: 'skipped',
    key: 'sha256:0',
    prompt: 'p',
    seed: '0',
    width: 32,
    height: 32,
    durationMs: 0,
    candidates: Array.from({ length: 4 }, (_, index) => ({
      index,
      chosen: false,
      load: async () => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return images[output * 4 + index];
      },
    })),
  }));
  const dir = path.join(root, 'bulk-reports');
  const bulk = await writeBuildReports(
    { project: 'bulk', startedAt: '', finishedAt: '', durationMs: 0, backend: 'embedded', counts: { generated: 0, cached: 0, failed: 0, skipped: 12 }, outputs },
    { dir, projectRoot: root },
  );
  assert.ok(most <= 4 && most >= 2, `at most 4 and more than 1 at a time, saw ${most}`);
  assert.equal((await readdir(path.join(dir, 'thumbs'))).length, 48);
  assert.equal([...(await readFile(bulk.html, 'utf8')).matchAll(/<img /g)].length, 48);
});

function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

function pick(attributes: Record<string, string>, ...names: string[]): Record<string, string | undefined> {
  return Object.fromEntries(names.map((name) => [name, attributes[name]]));
}

function only(element: XmlElement, name: string): XmlElement {
  const found = element.children.filter((child) => child.name === name);
  assert.equal(found.length, 1, `one <${name}> in <${element.name}>`);
  return found[0]!;
}

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

// A strict parser for the XML subset the JUnit writer produces (no DTD, CDATA or comments): it throws on anything not well-formed.
// The project has no XML parser of its own, and a lenient one would pass exactly the escaping bugs this test is for.
function parseXml(source: string): XmlElement {
  const illegal = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.exec(source);
  if (illegal) throw new Error(`character U+${illegal[0].codePointAt(0)!.toString(16)} is not allowed in XML 1.0 (at ${illegal.index})`);
  let position = /^<\?xml version="1\.0" encoding="UTF-8"\?>/.exec(source)?.[0].length ?? 0;
  const fail = (what: string): never => {
    throw new Error(`${what} at ${position}: ${JSON.stringify(source.slice(position, position + 40))}`);
  };
  const skipSpace = () => {
    while (/[ \t\r\n]/.test(source[position] ?? '')) position++;
  };
  const readName = () => {
    const name = /^[A-Za-z_:][A-Za-z0-9_.:-]*/.exec(source.slice(position))?.[0] ?? fail('expected a name');
    position += name.length;
    return name;
  };
  const decode = (raw: string) =>
    raw.replace(/&[^;]*;?/g, (reference) => {
      const named: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };
      if (named[reference]) return named[reference];
      const numeric = /^&#(?:x([0-9a-fA-F]+)|([0-9]+));$/.exec(reference);
      if (!numeric) return fail(`bad reference ${reference}`);
      const character = String.fromCodePoint(numeric[1] ? parseInt(numeric[1], 16) : Number(numeric[2]));
      if (/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(character)) fail(`reference ${reference} to a forbidden character`);
      return character;
    });
  const readElement = (): XmlElement => {
    if (source[position] !== '<') fail('expected <');
    position++;
    const element: XmlElement = { name: readName(), attributes: {}, children: [], text: '' };
    for (;;) {
      const before = position;
      skipSpace();
      if (source.startsWith('/>', position)) {
        position += 2;
        return element;
      }
      if (source[position] === '>') break;
      if (position === before) fail('expected white space before an attribute');
      const name = readName();
      if (name in element.attributes) fail(`attribute ${name} repeated`);
      skipSpace();
      if (source[position] !== '=') fail('expected =');
      position++;
      skipSpace();
      const quote = source[position];
      if (quote !== '"' && quote !== "'") fail('expected a quoted value');
      const end = source.indexOf(quote!, position + 1);
      if (end < 0) fail('unterminated attribute');
      const raw = source.slice(position + 1, end);
      if (raw.includes('<')) fail('< in an attribute value');
      // Literal white space in a value is normalised to spaces, as a conforming parser does.
      element.attributes[name] = decode(raw.replace(/[\t\r\n]/g, ' '));
      position = end + 1;
    }
    position++;
    for (;;) {
      if (position >= source.length) fail(`<${element.name}> is not closed`);
      if (source.startsWith('</', position)) {
        position += 2;
        if (readName() !== element.name) fail(`mismatched end tag for <${element.name}>`);
        skipSpace();
        if (source[position] !== '>') fail('expected >');
        position++;
        return element;
      }
      if (source[position] === '<') {
        if (/^<[!?]/.test(source.slice(position))) fail('comments, CDATA and instructions are not expected');
        element.children.push(readElement());
        continue;
      }
      const end = source.indexOf('<', position);
      const raw = source.slice(position, end < 0 ? source.length : end);
      if (raw.includes(']]>')) fail(']]> in text');
      element.text += decode(raw);
      position += raw.length;
    }
  };
  skipSpace();
  const root = readElement();
  skipSpace();
  if (position !== source.length) fail('content after the root element');
  return root;
}
