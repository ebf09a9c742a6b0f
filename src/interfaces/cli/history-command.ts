// `pixelpipe history` and `pixelpipe reproduce ID`: the records of what the service made, and making one again.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { NotFoundError } from '../../service/errors/not-found-error.js';
import type { ImageRecord, RecordFilter } from '../../service/image-service-types.js';
import { openAdmin } from './service-data.js';

export const historyUsage = `usage: pixelpipe history [--limit N] [--provider P] [--model M] [--prompt TEXT] [--since DATE] [--until DATE] [--job ID] [--cursor ID] [--json] [--data-dir DIR]
       pixelpipe reproduce RECORD_ID [--model M] [--out FILE] [--json] [--data-dir DIR]   make the image again; exit code 1 when the pixels differ
         (--model: where the record's model is, e.g. the folder serve ran with, when no server runs; the weights' hash is compared)
       both go through a running \`pixelpipe serve\` on the data directory when there is one (its admin socket), else open the database`;

function date(flag: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new InvalidArgumentError({ argument: flag, value, message: `\`--${flag}\` must be a date such as 2026-11-21 or 2026-11-21T12:00:00Z, got ${JSON.stringify(value)}` });
  return parsed;
}

function line(record: ImageRecord): string {
  const prompt = record.request.prompt.length > 60 ? `${record.request.prompt.slice(0, 57)}...` : record.request.prompt;
  return [record.id, record.createdAt.replace(/\.\d+Z$/, 'Z'), `${record.provider}:${record.modelId}`, record.seed ?? '-', `${record.width}x${record.height}`, JSON.stringify(prompt)].join('  ');
}

export async function historyCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string' }, provider: { type: 'string' }, model: { type: 'string' }, prompt: { type: 'string' }, since: { type: 'string' }, until: { type: 'string' },
      job: { type: 'string' }, cursor: { type: 'string' }, json: { type: 'boolean' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${historyUsage}\n`);
    return;
  }
  const limit = values.limit === undefined ? 20 : Number(values.limit);
  const filter: RecordFilter = { limit, provider: values.provider, model: values.model, prompt: values.prompt, since: date('since', values.since), until: date('until', values.until), jobId: values.job, cursor: values.cursor };
  const admin = await openAdmin(values['data-dir']);
  try {
    const page = await admin.listRecords(Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined)) as RecordFilter);
    if (values.json) {
      process.stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    for (const record of page.records) process.stdout.write(`${line(record)}\n`);
    if (page.records.length === 0) process.stderr.write('no records match\n');
    if (page.nextCursor) process.stderr.write(`more: pixelpipe history --cursor ${page.nextCursor}${values.limit ? ` --limit ${values.limit}` : ''}\n`);
  } finally {
    await admin.close();
  }
}

export async function reproduceCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { out: { type: 'string' }, json: { type: 'boolean' }, 'data-dir': { type: 'string' }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${historyUsage}\n`);
    return;
  }
  if (positionals.length !== 1) throw new InvalidArgumentError({ argument: 'id', value: positionals, message: `\`reproduce\` takes one record id, got ${positionals.length}\n${historyUsage}` });
  const id = positionals[0]!;
  const admin = await openAdmin(values['data-dir']);
  try {
    const result = await admin.reproduce(id, { model: values.model }).catch((error: unknown) => {
      if (NotFoundError.isInstance(error) && error.resource === 'record') throw new InvalidArgumentError({ argument: 'id', value: id, message: `no record ${JSON.stringify(id)} exists (list them with \`pixelpipe history\`)` });
      throw error;
    });
    if (values.out) await writeFile(values.out, result.image.bytes);
    const { pixelSha256, sha256, modelHash } = result;
    const modelChanged = modelHash.recorded !== undefined && modelHash.now !== undefined && modelHash.recorded !== modelHash.now;
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ id, matches: result.matches, pixelSha256, sha256, modelHash, ...(values.out ? { out: values.out } : {}) }, null, 2)}\n`);
    } else {
      process.stdout.write(`${result.matches ? 'match' : 'DIFFERS'}: pixels ${pixelSha256.recorded ?? sha256.recorded} recorded, ${pixelSha256.reproduced} reproduced\n`);
      process.stdout.write(`file SHA-256 ${sha256.matches ? 'matches too' : 'differs (the file carries its run\'s timings and time)'}: recorded ${sha256.recorded}, reproduced ${sha256.reproduced}\n`);
      if (modelChanged) process.stdout.write(`the model's weights changed since: recorded ${modelHash.recorded}, now ${modelHash.now}\n`);
    }
    if (!result.matches) process.exitCode = 1;
  } finally {
    await admin.close();
  }
}
