// `pixelpipe build [PROJECT]`: generates the image set a project's spec files describe, incrementally, and writes its reports.
import { relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { BuildEvent, BuildResult } from '../../service/build/run-build.js';
import type { PlannedOutput } from '../../service/build/build-plan.js';

export const buildUsage = `usage: pixelpipe build [PROJECT] [--dry-run] [--frozen] [--force PATTERN]... [--concurrency N]
                       [--server URL --api-key KEY] [--data-dir DIR] [--report-dir DIR] [--yes]
  Generates every output the project's specs describe (PROJECT: a folder holding pixelpipe.yaml, or the file;
  default the current folder). Outputs whose key and file match pixelpipe.lock are kept.
  --dry-run            print the plan (generate / cached, and why) and the estimated cost; generate nothing
  --frozen             fail if pixelpipe.lock would change (for CI); files missing here are regenerated and
                       must reproduce the locked pixels
  --force PATTERN      regenerate outputs whose path matches the glob (or a spec's name); repeatable
  --concurrency N      outputs generated at once (default: the project's, else 1)
  --server URL         generate on a running pixelpipe server instead of in this process (--api-key KEY, or
                       PIXELPIPE_API_KEY)
  --data-dir DIR       the embedded service's data directory (default: PIXELPIPE_DATA_DIR, else .pixelpipe in
                       the project folder)
  --report-dir DIR     where build-report.json, junit.xml and contact-sheet.html go (default: build-report)
  --yes                build more than 1,000 outputs
  Exit status: 0 built, 1 some outputs failed (the others are written) or --frozen found a change, 2 a usage or spec error.`;

type Stream = Pick<NodeJS.WriteStream, 'write'> & { isTTY?: boolean; columns?: number };

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The plan as a dry run prints it: one line per output, then the totals and the cost. */
export function formatPlan(planned: PlannedOutput[], cost: BuildResult['cost'], reasonText: Record<string, string>): string {
  const lines = planned.map((item) => (item.status === 'cached' ? `  cached    ${item.output.path}` : `  generate  ${item.output.path} (${reasonText[item.reason!]}${item.output.candidates > 1 ? `; best of ${item.output.candidates}` : ''})`));
  const toGenerate = planned.filter((item) => item.status === 'generate');
  const images = toGenerate.reduce((sum, item) => sum + item.output.candidates, 0);
  const money = `estimated cost: $${cost.amountUsd.toFixed(2)} at list prices${cost.local ? ` (${cost.local} on local models, no charge)` : ''}${cost.unpriced.length ? `; no price for ${cost.unpriced.join(', ')}` : ''}`;
  return `${lines.join('\n')}\n${toGenerate.length} to generate (${images} images), ${planned.length - toGenerate.length} cached\n${money}\n`;
}

/** A progress bar redrawn on a terminal; one line per finished output elsewhere (CI logs). */
export function createBuildPrinter(stream: Stream): { event(event: BuildEvent): void; done(): void } {
  const interactive = Boolean(stream.isTTY);
  let total = 0;
  let toGenerate = 0;
  let generated = 0;
  let failed = 0;
  let startedMs = 0;
  let drawn = false;
  const draw = (current?: string) => {
    const width = 24;
    const finished = generated + failed;
    const filled = toGenerate === 0 ? width : Math.round((finished / toGenerate) * width);
    const elapsed = performance.now() - startedMs;
    const eta = finished === 0 ? '' : ` · ETA ${seconds((elapsed / finished) * (toGenerate - finished))}`;
    const line = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${finished}/${toGenerate}${failed ? ` (${failed} failed)` : ''}${eta}${current ? ` · ${current}` : ''}`;
    stream.write(`\r${line.slice(0, Math.max(20, (stream.columns ?? 100) - 1))}\x1b[K`);
    drawn = true;
  };
  const clear = () => {
    if (drawn) stream.write('\r\x1b[K');
    drawn = false;
  };
  return {
    event(event) {
      if (event.type === 'plan') {
        total = event.planned.length;
        toGenerate = event.planned.filter((item) => item.status === 'generate').length;
        startedMs = performance.now();
        stream.write(`${total} outputs: ${toGenerate} to generate, ${total - toGenerate} cached\n`);
        return;
      }
      if (event.type === 'start') {
        if (interactive) draw(event.planned.output.path);
        return;
      }
      const { report } = event;
      if (report.status === 'cached') return;
      if (report.status === 'generated') generated += 1;
      else failed += 1;
      const chosen = report.candidates.find((candidate) => candidate.chosen);
      const detail = report.status === 'generated'
        ? `${seconds(report.durationMs)}${chosen?.score !== undefined ? `, best of ${report.candidates.length} by ${report.ranker} (score ${chosen.score.toFixed(3)})` : ''}`
        : `${report.error?.code}: ${report.error?.message}`;
      if (interactive) clear();
      // Failures are always printed in full; successes are printed as lines where no bar shows them.
      if (!interactive || report.status !== 'generated') stream.write(`${report.status.padEnd(9)} ${report.path} (${detail})\n`);
      if (interactive) draw();
    },
    done() {
      clear();
    },
  };
}

export async function buildCommand(argv: string[], { stdout = process.stdout as Stream, stderr = process.stderr as Stream, environment = process.env, signal }: { stdout?: Stream; stderr?: Stream; environment?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'dry-run': { type: 'boolean' },
      frozen: { type: 'boolean' },
      force: { type: 'string', multiple: true },
      concurrency: { type: 'string' },
      server: { type: 'string' },
      'api-key': { type: 'string' },
      'data-dir': { type: 'string' },
      'report-dir': { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    stdout.write(`${buildUsage}\n`);
    return 0;
  }
  if (positionals.length > 1) throw new InvalidArgumentError({ argument: 'PROJECT', value: positionals, message: `give one project folder or file, got ${positionals.length}: ${positionals.join(' ')}\n${buildUsage}` });
  const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
  if (concurrency !== undefined && (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)) {
    throw new InvalidArgumentError({ argument: '--concurrency', value: values.concurrency, message: `--concurrency must be a whole number from 1 to 256, got ${JSON.stringify(values.concurrency)}` });
  }
  const apiKey = values['api-key'] ?? environment.PIXELPIPE_API_KEY;
  if (values.server === undefined && values['api-key'] !== undefined) throw new InvalidArgumentError({ argument: '--api-key', value: '(hidden)', message: '--api-key is for --server URL; the embedded service needs no key' });
  if (values.server !== undefined && !/^https?:\/\/[^/]/.test(values.server)) throw new InvalidArgumentError({ argument: '--server', value: values.server, message: `--server must be the server's http:// or https:// URL, e.g. http://127.0.0.1:8080, got ${JSON.stringify(values.server)}` });

  const { loadProject, expandProject } = await import('../../service/specs/index.js');
  const { runBuild, confirmedOutputLimit } = await import('../../service/build/run-build.js');
  const { reasonText } = await import('../../service/build/build-plan.js');
  const project = await loadProject(positionals[0] ?? '.');
  const outputs = expandProject(project, { maxOutputs: values.yes ? undefined : confirmedOutputLimit });
  const workers = concurrency ?? project.concurrency ?? 1;
  const backend = values.server !== undefined
    ? (await import('../../service/build/server-backend.js')).openServerBackend({ url: values.server, apiKey })
    : await (await import('../../service/build/embedded-backend.js')).openEmbeddedBackend({ project, outputs, dataDir: values['data-dir'], concurrency: workers, environment, onNotice: (message) => stderr.write(`pixelpipe: ${message}\n`) });
  const printer = createBuildPrinter(stderr);
  let result: BuildResult;
  try {
    result = await runBuild({
      project, backend, frozen: values.frozen, force: values.force, dryRun: values['dry-run'], concurrency: workers, yes: values.yes,
      reportDir: values['report-dir'] === undefined ? undefined : resolve(values['report-dir']), signal,
      onEvent: values['dry-run'] ? undefined : (event) => printer.event(event),
    });
  } finally {
    printer.done();
    await backend.close();
  }
  if (values['dry-run']) {
    stdout.write(formatPlan(result.planned, result.cost, reasonText));
    return 0;
  }
  const { counts, durationMs } = result.report!;
  const shown = (path: string) => relative(process.cwd(), path) || '.';
  stdout.write(`${counts.generated} generated, ${counts.cached} cached, ${counts.failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''} in ${seconds(durationMs)}\n`);
  stdout.write(`reports: ${shown(result.reports!.html)}, ${shown(result.reports!.junit)}, ${shown(result.reports!.json)}\n`);
  return result.exitCode;
}
