// `pixelpipe generate "PROMPT" ...`: parse flags, run the library call, write files, print where they went.
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Pixelpipe, PixelpipeOptions } from '../../service/pixelpipe.js';
import { createProgressPrinter } from './progress.js';

export const generateUsage = `usage: pixelpipe generate "PROMPT" [--model M] [--negative TEXT] [--seed N] [--steps N]
         [--guidance F] [--sampler NAME] [--width W] [--height H] [--n N] [--out PATH] [--json]
         [--execution-provider cpu|cuda] [--threads N]

  --model M      a model folder (Optimum ONNX layout) or a Hugging Face repo id[@revision];
                 without it the default model is pulled on first use
  --out PATH     file (image.png; with --n > 1 image-1.png, image-2.png, ...) or folder; default: .
  --json         print the result as JSON on stdout`;

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === '' || Number.isNaN(value)) throw new InvalidArgumentError({ argument: flag, value: text, message: `\`--${flag}\` must be a number, got ${JSON.stringify(text)}` });
  return value;
}

/** Where image `index` of `count` goes. */
export function outputPath(out: string | undefined, seed: string, index: number, count: number): string {
  const target = resolve(out ?? '.');
  const isFolder = out === undefined || out.endsWith('/') || (() => { try { return statSync(target).isDirectory(); } catch { return false; } })();
  if (isFolder) return join(target, `pixelpipe-${seed}.png`);
  if (count === 1) return target;
  const extension = extname(target) || '.png';
  return `${target.slice(0, target.length - extname(target).length)}-${index + 1}${extension}`;
}

export async function generateCommand(argv: string[], createPixelpipe: (options: PixelpipeOptions) => Pixelpipe): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string' }, negative: { type: 'string' }, seed: { type: 'string' }, steps: { type: 'string' },
      guidance: { type: 'string' }, sampler: { type: 'string' }, width: { type: 'string' }, height: { type: 'string' },
      n: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' }, 'execution-provider': { type: 'string' },
      threads: { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${generateUsage}\n`);
    return;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError({ argument: 'prompt', value: positionals, message: `give exactly one prompt (quote it), got ${positionals.length} arguments\n${generateUsage}` });
  const n = number('n', values.n) ?? 1;
  const executionProvider = values['execution-provider'];
  if (executionProvider !== undefined && executionProvider !== 'cpu' && executionProvider !== 'cuda') {
    throw new InvalidArgumentError({ argument: 'execution-provider', value: executionProvider, message: `\`--execution-provider\` must be cpu or cuda, got ${JSON.stringify(executionProvider)}` });
  }
  const pixelpipe = createPixelpipe({ executionProvider, threads: number('threads', values.threads), onNotice: (message) => process.stderr.write(`${message}\n`) });
  const progress = createProgressPrinter(process.stderr, n);
  const result = await pixelpipe.generate({
    prompt: positionals[0]!,
    model: values.model,
    negativePrompt: values.negative,
    seed: values.seed,
    steps: number('steps', values.steps),
    guidance: number('guidance', values.guidance),
    sampler: values.sampler,
    width: number('width', values.width),
    height: number('height', values.height),
    n,
    onProgress: (event) => progress.update(event),
  });
  progress.done();
  await pixelpipe.close();
  const written = result.images.map((image, index) => {
    const path = outputPath(values.out, image.settings.seed ?? String(index), index, result.images.length);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, image.bytes);
    return { path, seed: image.settings.seed, settings: image.settings };
  });
  for (const warning of result.warnings) process.stderr.write(`warning: ${'message' in warning ? warning.message : `${warning.setting}: ${warning.details ?? 'not supported'}`}\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ model: result.model, images: written, warnings: result.warnings, response: result.response }, null, 2)}\n`);
  } else {
    for (const { path, seed } of written) process.stdout.write(`${path}  seed ${seed}\n`);
  }
}
