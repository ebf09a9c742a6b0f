// `pixelpipe audit`: the moderation audit log, every screening decision with its time, key, job, rule or classifier and scores.
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { auditActions, type AuditAction, type AuditFilter, type AuditRecord } from '../../service/safety/audit-log.js';
import { openAdmin } from './service-data.js';

export const auditUsage = `usage: pixelpipe audit [--since 1h|2026-11-21T00:00:00Z] [--action allow|flag|block|off] [--limit N] [--cursor C] [--json] [--data-dir DIR]
       moderation decisions, newest first (--since: a time, or how long ago: 30m, 12h, 7d)
       it goes through a running \`pixelpipe serve\` on the data directory when there is one (its admin socket), else opens the database`;

/** Where the command writes and what it reads; the process's own by default (tests pass their own). */
export interface AuditCommandOptions {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  environment?: NodeJS.ProcessEnv;
  /** The clock `--since 1h` counts back from. */
  now?: () => Date;
}

const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: a duration back from now (`90m`, `1h`, `7d`) or a date. */
export function parseSince(value: string, now: Date): Date {
  const ago = /^(\d+)([smhdw])$/.exec(value.trim());
  if (ago) return new Date(now.getTime() - Number(ago[1]) * units[ago[2]!]!);
  const date = /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError({ argument: 'since', value, message: `\`--since\` must be how long ago (30m, 12h, 7d: s, m, h, d or w) or a date such as 2026-11-21 or 2026-11-21T12:00:00Z, got ${JSON.stringify(value)}\n${auditUsage}` });
  }
  return date;
}

function filterOf(values: { since?: string; action?: string; limit?: string; cursor?: string }, now: Date): AuditFilter {
  if (values.action !== undefined && !auditActions.includes(values.action as AuditAction)) {
    throw new InvalidArgumentError({ argument: 'action', value: values.action, message: `\`--action\` must be one of ${auditActions.join(', ')}, got ${JSON.stringify(values.action)}\n${auditUsage}` });
  }
  const limit = values.limit === undefined ? undefined : /^\d+$/.test(values.limit) ? Number(values.limit) : Number.NaN;
  if (limit !== undefined && !(limit >= 1 && limit <= 1000)) {
    throw new InvalidArgumentError({ argument: 'limit', value: values.limit, message: `\`--limit\` must be a whole number of entries from 1 to 1000, got ${JSON.stringify(values.limit)}` });
  }
  const filter = { since: values.since === undefined ? undefined : parseSince(values.since, now), action: values.action as AuditAction | undefined, limit, cursor: values.cursor };
  return Object.fromEntries(Object.entries(filter).filter(([, value]) => value !== undefined));
}

const short = (id: string | undefined) => (id ? `${id.slice(0, 8)}…` : '-');

function line(entry: AuditRecord): string {
  const scores = entry.scores ? Object.entries(entry.scores).sort(([, a], [, b]) => b - a)[0] : undefined;
  return [
    entry.createdAt.replace(/\.\d+Z$/, 'Z'),
    entry.stage.padEnd(6),
    entry.action.padEnd(5),
    entry.policy ?? '-',
    entry.rule ?? entry.classifier ?? '-',
    entry.category ?? '-',
    `key ${short(entry.apiKeyId)}`,
    `job ${short(entry.jobId)}`,
    ...(scores ? [`top ${scores[0]} ${scores[1]}`] : []),
  ].join('  ');
}

/** Runs `pixelpipe audit ...`; usage mistakes throw `InvalidArgumentError` before the database is opened. */
export async function auditCommand(argv: string[], { stdout = process.stdout, stderr = process.stderr, environment = process.env, now = () => new Date() }: AuditCommandOptions = {}): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: { since: { type: 'string' }, action: { type: 'string' }, limit: { type: 'string' }, cursor: { type: 'string' }, json: { type: 'boolean' }, 'data-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'argv', value: argv, message: `${(error as Error).message}\n${auditUsage}`, cause: error });
  }
  const { values } = parsed;
  if (values.help) {
    stdout.write(`${auditUsage}\n`);
    return;
  }
  const filter = filterOf(values, now());
  const admin = await openAdmin(values['data-dir'], { environment, stderr });
  try {
    const page = await admin.listAudit(filter);
    if (values.json) {
      stdout.write(`${JSON.stringify(page, null, 2)}\n`);
      return;
    }
    for (const entry of page.entries) stdout.write(`${line(entry)}\n`);
    if (page.entries.length === 0) stderr.write('no audit entries match\n');
    const filtered = values.since !== undefined || values.action !== undefined || values.limit !== undefined;
    if (page.nextCursor) stderr.write(`more: pixelpipe audit --cursor ${page.nextCursor}${filtered ? ' with the same --since, --action and --limit' : ''}\n`);
  } finally {
    await admin.close();
  }
}
