// `pixelpipe provenance init`: a development certificate and key for signing images with C2PA content credentials.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeDevelopmentCertificates } from '../../service/provenance/c2pa-keys.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { commandSettings } from './service-data.js';

export const provenanceUsage = `usage: pixelpipe provenance init [--dir DIR] [--force] [--data-dir DIR]
                                             make a development CA and a C2PA signing certificate it issued (ES256),
                                             and print the PIXELPIPE_C2PA_CERT and PIXELPIPE_C2PA_KEY lines to set;
                                             validators show their signer as untrusted: for development only
       --dir DIR   where to write c2pa-cert.pem, c2pa-key.pem and c2pa-ca.pem (default: the data directory's provenance/)
       --force     replace certificates already there (images signed before keep their signatures)`;

/** Where the command writes and what it reads; the process's own by default (tests pass their own). */
export interface ProvenanceCommandOptions {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Environment that settings are read from. */
  environment?: NodeJS.ProcessEnv;
}

const options = {
  dir: { type: 'string' },
  force: { type: 'boolean' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const actions = ['init'];

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options });
  } catch (error) {
    // parseArgs says what was wrong (an unknown flag, a missing value); add what is right.
    throw new InvalidArgumentError({ argument: 'argv', value: argv, message: `${(error as Error).message}\n${provenanceUsage}`, cause: error });
  }
}

/** A value as a shell and a dotenv file both read it back. */
function shellValue(value: string): string {
  return /^[\w./:@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

/** Runs `pixelpipe provenance ...`: the environment lines go to stdout, the explanation to stderr. */
export async function provenanceCommand(argv: string[], { stdout = process.stdout, stderr = process.stderr, environment = process.env }: ProvenanceCommandOptions = {}): Promise<void> {
  const { positionals, values } = parse(argv);
  const [action, ...extra] = positionals;
  if (values.help || action === undefined) {
    stdout.write(`${provenanceUsage}\n`);
    return;
  }
  if (!actions.includes(action)) {
    throw new InvalidArgumentError({ argument: 'action', value: action, message: `unknown \`provenance\` action ${JSON.stringify(action)}; known: ${actions.join(', ')}\n${provenanceUsage}` });
  }
  if (extra.length > 0) {
    throw new InvalidArgumentError({ argument: 'argv', value: extra, message: `\`provenance init\` takes no positional arguments, got ${extra.map((value) => JSON.stringify(value)).join(' ')}; give the folder with --dir DIR\n${provenanceUsage}` });
  }

  let dir = values.dir;
  if (dir === undefined) {
    const { settings, source } = commandSettings(values['data-dir'], environment);
    dir = join(resolve(settings.dataDir), 'provenance');
    stderr.write(`data directory: ${resolve(settings.dataDir)} (${source})\n`);
  }
  const written = await writeDevelopmentCertificates(dir, { overwrite: values.force === true });
  stderr.write(
    [
      `wrote a development C2PA signing certificate, valid until ${written.notAfter.toISOString().slice(0, 10)}:`,
      `  ${written.certificatePath}  the signing certificate, then the development CA that issued it`,
      `  ${written.keyPath}  its private key (readable by you only)`,
      `  ${written.caPath}  the development CA, for a validator's trust anchors in tests`,
      'Validators (c2patool, contentcredentials.org/verify) will show this signer as UNTRUSTED: no trust list holds this CA.',
      'Use it for development only; in production, sign with a certificate from a CA on the C2PA trust list.',
      values.dir === undefined
        ? 'pixelpipe (serve, worker, generate) signs with these whenever it uses this data directory; elsewhere, set:'
        : 'Set these where pixelpipe runs (serve, worker, generate) to sign the images it makes:',
      '',
    ].join('\n'),
  );
  stdout.write(`PIXELPIPE_C2PA_CERT=${shellValue(written.certificatePath)}\nPIXELPIPE_C2PA_KEY=${shellValue(written.keyPath)}\n`);
}
