#!/usr/bin/env node
// The `pixelpipe` command: dispatches to one file per command; errors print one line and set the exit code.
import { createRequire } from 'node:module';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

// Each command imports only what it uses: `history` beside a running server need not load ONNX Runtime.
const createPixelpipe = async () => (await import('../../service/pixelpipe.js')).createPixelpipe;

async function usage(): Promise<string> {
  const [generate, build, models, serve, history, keys, verify, provenance, audit, upscale, lora] = await Promise.all([
    import('./generate-command.js'), import('./build-command.js'), import('./models-command.js'), import('./serve-command.js'), import('./history-command.js'), import('./keys-command.js'),
    import('./verify-command.js'), import('./provenance-command.js'), import('./audit-command.js'), import('./upscale-command.js'), import('./lora-command.js'),
  ]);
  return `pixelpipe — self-hosted image generation

${generate.generateUsage}

${upscale.upscaleUsage}

${build.buildUsage}

${models.modelsUsage}

${lora.loraUsage}

${serve.serveUsage}

${history.historyUsage}

${keys.keysUsage}

${verify.verifyUsage}

${provenance.provenanceUsage}

${audit.auditUsage}

  pixelpipe --version`;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'generate':
      return (await import('./generate-command.js')).generateCommand(rest, await createPixelpipe());
    case 'upscale':
      return (await import('./upscale-command.js')).upscaleCommand(rest);
    case 'build': {
      // The first Ctrl-C lets finished outputs reach the lockfile and the reports be written; a second one ends at once.
      const controller = new AbortController();
      process.once('SIGINT', () => {
        process.stderr.write('\ninterrupted: finishing the outputs in progress (Ctrl-C again to stop now)\n');
        controller.abort();
        process.once('SIGINT', () => process.exit(130));
      });
      process.exitCode = await (await import('./build-command.js')).buildCommand(rest, { signal: controller.signal });
      return;
    }
    case 'models':
      return (await import('./models-command.js')).modelsCommand(rest, await createPixelpipe());
    case 'lora':
      return (await import('./lora-command.js')).loraCommand(rest);
    case 'serve':
      return (await import('./serve-command.js')).serveCommand(rest);
    case 'worker':
      return (await import('./serve-command.js')).workerCommand(rest);
    case 'history':
      return (await import('./history-command.js')).historyCommand(rest);
    case 'reproduce':
      return (await import('./history-command.js')).reproduceCommand(rest);
    case 'keys':
      return (await import('./keys-command.js')).keysCommand(rest);
    case 'verify':
      return (await import('./verify-command.js')).verifyCommand(rest);
    case 'provenance':
      return (await import('./provenance-command.js')).provenanceCommand(rest);
    case 'audit':
      return (await import('./audit-command.js')).auditCommand(rest);
    case '--version':
    case '-v': {
      const { version } = createRequire(import.meta.url)('../../../package.json') as { version: string };
      process.stdout.write(`${version}\n`);
      return;
    }
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(`${await usage()}\n`);
      return;
    default:
      throw new InvalidArgumentError({ argument: 'command', value: command, message: `unknown command ${JSON.stringify(command)}; known: generate, upscale, build, models, lora, serve, worker, history, reproduce, keys, verify, provenance, audit\n\n${await usage()}` });
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    // A spec file that cannot be used is the user's input, like a flag: exit status 2.
    const isUsage = InvalidArgumentError.isInstance(error) || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS') || (PixelpipeError.isInstance(error) && error.name === 'SpecFileError');
    const message = PixelpipeError.isInstance(error) || isUsage ? (error as Error).message : String((error as Error)?.stack ?? error);
    process.stderr.write(`error: ${message}\n`);
    process.exit(isUsage ? 2 : 1);
  },
);
