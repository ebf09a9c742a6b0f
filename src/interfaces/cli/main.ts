#!/usr/bin/env node
// The `pixelpipe` command: dispatches to one file per command; errors print one line and set the exit code.
import { createRequire } from 'node:module';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createPixelpipe } from '../../service/pixelpipe.js';
import { generateCommand, generateUsage } from './generate-command.js';
import { historyCommand, historyUsage, reproduceCommand } from './history-command.js';
import { keysCommand, keysUsage } from './keys-command.js';
import { modelsCommand, modelsUsage } from './models-command.js';
import { serveCommand, serveUsage, workerCommand } from './serve-command.js';

const usage = `pixelpipe — self-hosted image generation

${generateUsage}

${modelsUsage}

${serveUsage}

${historyUsage}

${keysUsage}

  pixelpipe --version`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'generate':
      return generateCommand(rest, createPixelpipe);
    case 'models':
      return modelsCommand(rest, createPixelpipe);
    case 'serve':
      return serveCommand(rest);
    case 'worker':
      return workerCommand(rest);
    case 'history':
      return historyCommand(rest);
    case 'reproduce':
      return reproduceCommand(rest);
    case 'keys':
      return keysCommand(rest);
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
      process.stdout.write(`${usage}\n`);
      return;
    default:
      throw new InvalidArgumentError({ argument: 'command', value: command, message: `unknown command ${JSON.stringify(command)}; known: generate, models, serve, worker, history, reproduce, keys\n\n${usage}` });
  }
}

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (error: unknown) => {
    const isUsage = InvalidArgumentError.isInstance(error) || (error as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS');
    const message = PixelpipeError.isInstance(error) || isUsage ? (error as Error).message : String((error as Error)?.stack ?? error);
    process.stderr.write(`error: ${message}\n`);
    process.exit(isUsage ? 2 : 1);
  },
);
