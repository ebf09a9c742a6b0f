// `npm run bench:build`: what `pixelpipe build` adds to each output beyond its job (plan, keys, waiting,
// reading the stored image, hashing and writing the file, the lockfile), and what a rebuild that makes
// nothing costs per output. Runs the embedded backend on the tiny model, so the job itself is short
// and the build's own time is what shows.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { openEmbeddedBackend } from '../src/service/build/embedded-backend.js';
import { runBuild } from '../src/service/build/run-build.js';
import { expandProject, loadProject } from '../src/service/specs/index.js';

const root = resolve(import.meta.dirname, '..');
const { values } = parseArgs({ options: { outputs: { type: 'string', default: '24' }, size: { type: 'string', default: '64x64' }, concurrency: { type: 'string', default: '1' } } });
const count = Number(values.outputs);
const concurrency = Number(values.concurrency);

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-build-bench-'));
try {
  const folder = join(work, 'project');
  mkdirSync(folder);
  writeFileSync(
    join(folder, 'pixelpipe.yaml'),
    [
      'version: 1',
      'specs:',
      '  - name: tiles',
      `    model: ${JSON.stringify(join(root, 'test-data/fixtures/tiny-sd15'))}`,
      '    prompt: tile number {n}',
      `    size: ${values.size}`,
      '    steps: 1',
      `    matrix: { n: [${Array.from({ length: count }, (_, index) => index).join(', ')}] }`,
      "    output: { path: 'out/{n}.png' }",
      '',
    ].join('\n'),
  );
  const time = async <T>(run: () => Promise<T>): Promise<[T, number]> => {
    const started = performance.now();
    return [await run(), performance.now() - started];
  };
  const build = async () => {
    const project = await loadProject(folder);
    const outputs = expandProject(project);
    const [opened, openMs] = await time(() => openEmbeddedBackend({ project, outputs, concurrency, onNotice: () => undefined }));
    // The backend's calls timed from outside: the job as the build waits for it (submit to records written), and reading its image.
    const stages = { jobMs: 0, readMs: 0 };
    const backend = {
      ...opened,
      name: opened.name,
      generate: async (...args: Parameters<typeof opened.generate>) => {
        const [value, ms] = await time(() => opened.generate(...args));
        stages.jobMs += ms;
        return value;
      },
      read: async (...args: Parameters<typeof opened.read>) => {
        const [value, ms] = await time(() => opened.read(...args));
        stages.readMs += ms;
        return value;
      },
    };
    try {
      const [result, buildMs] = await time(() => runBuild({ project, backend, concurrency }));
      return { result, openMs, buildMs, stages };
    } finally {
      await opened.close();
    }
  };

  const first = await build();
  const outputs = first.result.report!.outputs;
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  const duration = mean(outputs.map((output) => output.durationMs));
  const job = mean(outputs.map((output) => output.generationMs ?? 0));
  const second = await build();

  console.log(`pixelpipe build, ${count} outputs of ${values.size} on the tiny model, concurrency ${concurrency}`);
  console.log(`  open embedded service     ${first.openMs.toFixed(0)} ms (once per build)`);
  console.log(`  first build               ${first.buildMs.toFixed(0)} ms: ${(first.buildMs / count).toFixed(1)} ms per output`);
  console.log(`    per output, wall        ${duration.toFixed(1)} ms`);
  console.log(`    of which the job runs   ${job.toFixed(1)} ms (generation, screening, watermark, signature, storage)`);
  const waited = first.stages.jobMs / count;
  const read = first.stages.readMs / count;
  console.log(`    submit to records       ${waited.toFixed(1)} ms (the job plus the service's queueing and settling: ${(waited - job).toFixed(1)} ms)`);
  console.log(`    read the stored image   ${read.toFixed(1)} ms`);
  console.log(`    hash, write, lockfile   ${(duration - waited - read).toFixed(1)} ms`);
  console.log(`    build overhead          ${(duration - job).toFixed(1)} ms per output beyond the job (${(((duration - job) / duration) * 100).toFixed(1)}% of its time)`);
  console.log(`  rebuild, all cached       ${second.buildMs.toFixed(0)} ms: ${(second.buildMs / count).toFixed(2)} ms per output (${second.result.report!.counts.cached}/${count} cached)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
