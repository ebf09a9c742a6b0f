// `pixelpipe models pull ID`, `models list`, `models optimize ID` and `models --providers`: the model catalog, the model cache, known-good exports, hosted providers.
import { parseArgs } from 'node:util';
import type { LocalModelCapabilities } from '../../providers/local/local-image-model.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { cacheCatalog, listCatalog, type ListedModel } from '../../service/models/catalog-listing.js';
import type { Pixelpipe, PixelpipeOptions } from '../../service/pixelpipe.js';
import { commandSettings, findServer } from './service-data.js';

export const modelsUsage = `usage: pixelpipe models pull ID[@REVISION]   download an ONNX export (resumable, SHA-256 checked)
       pixelpipe models list [--data-dir DIR] [--json]
                                             the catalog (the models requests may name, as GET /v1/models lists them: a running
                                             \`pixelpipe serve\` on the data directory answers for its own, else this machine's cache
                                             and provider keys give it), then the cached models and known-good exports
       pixelpipe models optimize ID|FOLDER   optimise a local model's graphs for this machine now, into the graph cache
                                             (PIXELPIPE_GRAPH_CACHE), instead of on its first load
       pixelpipe models --providers          hosted providers (use as --model PROVIDER:MODEL) and whether each is configured`;

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/** Where `models list` writes and what it reads; the process's own by default (tests pass their own). */
export interface ModelsCommandOptions {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Environment the data directory is read from. */
  environment?: NodeJS.ProcessEnv;
}

export async function modelsCommand(argv: string[], createPixelpipe: (options: PixelpipeOptions) => Pixelpipe, { stdout = process.stdout, stderr = process.stderr, environment = process.env }: ModelsCommandOptions = {}): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, providers: { type: 'boolean' }, 'data-dir': { type: 'string' } } });
  const [action, id, ...extra] = positionals;
  if (values.providers) {
    printProviders(createPixelpipe({}).listProviders(), values.json === true);
    return;
  }
  if (values.help || action === undefined) {
    process.stdout.write(`${modelsUsage}\n`);
    return;
  }
  let lastPercent = -1;
  // Read once: the generator and the data directory's server lookup share them.
  const loaded = commandSettings(values['data-dir'], environment);
  const pixelpipe = createPixelpipe({
    settings: loaded.settings,
    onNotice: (message) => process.stderr.write(`${message}\n`),
    onDownloadProgress: (progress) => {
      const percent = progress.totalBytes ? Math.floor((progress.bytes / progress.totalBytes) * 100) : 0;
      if (percent !== lastPercent) {
        lastPercent = percent;
        process.stderr.write(`${process.stderr.isTTY ? '\r' : ''}${percent}% ${gib(progress.bytes)} of ${gib(progress.totalBytes)} · file ${progress.fileIndex + 1}/${progress.fileCount} ${progress.path}${process.stderr.isTTY ? '\x1b[K' : '\n'}`);
      }
    },
  });
  try {
    if (action === 'pull') {
      if (!id || extra.length > 0) throw new InvalidArgumentError({ argument: 'id', value: positionals.slice(1), message: `\`models pull\` takes one model id (owner/name[@revision]), got ${positionals.length - 1}\n${modelsUsage}` });
      const result = await pixelpipe.pullModel(id);
      if (process.stderr.isTTY) process.stderr.write('\n');
      process.stdout.write(`${result.folder}\n`);
      process.stderr.write(`pulled ${id} at ${result.revision}${result.license ? `; licence: ${result.license}` : ''}\n`);
      return;
    }
    if (action === 'list') {
      // A running server's own catalog has its --model and extra models; without one, the cache and keys here give it.
      const { where, server } = await findServer(values['data-dir'], environment, loaded);
      const catalog = server
        ? { from: server.via, models: await server.listModels() }
        : { from: "this machine's model cache and provider keys (no server runs on this data directory; a server also serves its --model)", models: await listCatalog(cacheCatalog(pixelpipe), pixelpipe) };
      stderr.write(`${where}; catalog from ${catalog.from}\n`);
      const { cached, registry } = await pixelpipe.listModels();
      if (values.json) {
        stdout.write(`${JSON.stringify({ catalog, cached, registry }, null, 2)}\n`);
        return;
      }
      stdout.write(catalogTable(catalog.models));
      stdout.write('cached:\n');
      if (cached.length === 0) stdout.write('  (none)\n');
      for (const model of cached) stdout.write(`  ${model.repoId}@${model.revision.slice(0, 12)}  ${gib(model.sizeBytes)}  ${model.complete ? 'complete' : 'INCOMPLETE (pull again to resume)'}  ${model.folder}\n`);
      stdout.write('known-good exports:\n');
      for (const entry of registry) stdout.write(`  ${entry.alias.padEnd(12)} ${entry.repoId}@${entry.revision.slice(0, 12)}  ${entry.precision}  ${entry.license}  ${entry.description}\n`);
      return;
    }
    if (action === 'optimize') {
      if (!id || extra.length > 0) throw new InvalidArgumentError({ argument: 'id', value: positionals.slice(1), message: `\`models optimize\` takes one local model (a catalog id, a cached repo id or a folder), got ${positionals.length - 1}\n${modelsUsage}` });
      const report = await pixelpipe.optimize(id);
      if (!report) throw new InvalidArgumentError({ argument: 'id', value: id, message: `${id} is not a model on this machine (a folder, or a model in the cache): pull it first with \`pixelpipe models pull ${id}\`` });
      for (const session of report.sessions) stdout.write(`  ${session.name.padEnd(20)} ${session.outcome.padEnd(11)} ${(session.milliseconds / 1000).toFixed(1)} s\n`);
      stderr.write(`${report.model}: optimised graphs are in ${report.graphCache}\n`);
      return;
    }
    throw new InvalidArgumentError({ argument: 'action', value: action, message: `unknown \`models\` action ${JSON.stringify(action)}; known: pull, list, optimize\n${modelsUsage}` });
  } finally {
    await pixelpipe.close();
  }
}

/** What a local model can do, in one line; `--json` has the samplers too. */
function describeCapabilities(capabilities: LocalModelCapabilities | undefined): string {
  if (!capabilities) return 'its configs could not be read; a job on it fails naming what is missing';
  const { family, operations, sizeMultiple, defaultSize, defaultSteps, defaultGuidance } = capabilities;
  return `${family.name}: ${operations.join(', ')}; sides multiples of ${sizeMultiple}, default ${defaultSize.width}x${defaultSize.height}, ${defaultSteps} steps, guidance ${defaultGuidance}`;
}

function catalogTable(models: ListedModel[]): string {
  const width = Math.max(12, ...models.map((model) => model.id.length));
  const owners = Math.max(5, ...models.map((model) => model.ownedBy.length));
  const rows = models.map((model) => `  ${model.id.padEnd(width)}  ${model.ownedBy.padEnd(owners)}${model.ownedBy === 'local' ? `  ${describeCapabilities(model.capabilities)}` : ''}`.trimEnd());
  return `catalog (what requests may name as \`model\`; GET /v1/models):\n${rows.length === 0 ? '  (none: add one with `pixelpipe models pull ID`)' : rows.join('\n')}\n`;
}

function printProviders(providers: ReturnType<Pixelpipe['listProviders']>, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(providers, null, 2)}\n`);
    return;
  }
  process.stdout.write('hosted providers (--model PROVIDER:MODEL):\n');
  for (const provider of providers) {
    const missing = provider.variables.filter((variable) => !variable.set).map((variable) => variable.name);
    const state = provider.configured ? 'configured' : `not configured: set ${missing.join(' and ')}`;
    process.stdout.write(`  ${provider.name.padEnd(10)} ${state}\n`);
    process.stdout.write(`  ${''.padEnd(10)} ${provider.baseUrl} (${provider.baseUrlVariable} overrides)\n`);
    process.stdout.write(`  ${''.padEnd(10)} e.g. ${provider.exampleModels.map((model) => `${provider.name}:${model}`).join(', ')}\n`);
  }
  process.stdout.write('local models: local:MODEL or a bare folder, hub id or alias (pixelpipe models list)\n');
}
