// `pixelpipe models pull ID`, `models list` and `models --providers`: the model cache, known-good exports, hosted providers.
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Pixelpipe, PixelpipeOptions } from '../../service/pixelpipe.js';

export const modelsUsage = `usage: pixelpipe models pull ID[@REVISION]   download an ONNX export (resumable, SHA-256 checked)
       pixelpipe models list                 cached models and known-good exports
       pixelpipe models --providers          hosted providers (use as --model PROVIDER:MODEL) and whether each is configured`;

const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

export async function modelsCommand(argv: string[], createPixelpipe: (options: PixelpipeOptions) => Pixelpipe): Promise<void> {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, providers: { type: 'boolean' } } });
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
  const pixelpipe = createPixelpipe({
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
      const { cached, registry } = await pixelpipe.listModels();
      if (values.json) {
        process.stdout.write(`${JSON.stringify({ cached, registry }, null, 2)}\n`);
        return;
      }
      process.stdout.write('cached:\n');
      if (cached.length === 0) process.stdout.write('  (none)\n');
      for (const model of cached) process.stdout.write(`  ${model.repoId}@${model.revision.slice(0, 12)}  ${gib(model.sizeBytes)}  ${model.complete ? 'complete' : 'INCOMPLETE (pull again to resume)'}  ${model.folder}\n`);
      process.stdout.write('known-good exports:\n');
      for (const entry of registry) process.stdout.write(`  ${entry.alias.padEnd(12)} ${entry.repoId}@${entry.revision.slice(0, 12)}  ${entry.precision}  ${entry.license}  ${entry.description}\n`);
      return;
    }
    throw new InvalidArgumentError({ argument: 'action', value: action, message: `unknown \`models\` action ${JSON.stringify(action)}; known: pull, list\n${modelsUsage}` });
  } finally {
    await pixelpipe.close();
  }
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
