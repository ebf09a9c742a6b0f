// `pixelpipe keys create|list|revoke`: the HTTP service's API keys, in the service's database.
import { parseArgs } from 'node:util';
import type { ApiKeyInfo } from '../../service/image-service-types.js';
import { loadModerationPolicy, policyName } from '../../service/safety/moderation-policy.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { commandSettings, openAdmin } from './service-data.js';

export const keysUsage = `usage: pixelpipe keys create --name NAME [--rate-limit N] [--daily-quota N] [--max-concurrent N] [--admin] [--moderation-policy FILE|off] [--json]
                                             make an API key and print its secret, this once only
                                             (--admin: it may also pull models over HTTP, on a server started with --allow-pull;
                                             --moderation-policy: its own moderation policy, a YAML or JSON file read now, or off)
       pixelpipe keys list [--all] [--json]  keys in use (--all: revoked ones too)
       pixelpipe keys revoke ID_OR_PREFIX    stop a key working (its id, or the start of its prefix)
       every keys command takes --data-dir DIR (default PIXELPIPE_DATA_DIR, else ~/.local/share/pixelpipe, as serve) and says which
       it uses; it goes through a running \`pixelpipe serve\` there (its admin socket); with PIXELPIPE_DATABASE_URL set, keys live on that server`;

/** Where the command writes and what it reads; the process's own by default (tests pass their own). */
export interface KeysCommandOptions {
  stdout?: { write(text: string): unknown };
  stderr?: { write(text: string): unknown };
  /** Environment that settings are read from. */
  environment?: NodeJS.ProcessEnv;
}

const options = {
  name: { type: 'string' },
  'rate-limit': { type: 'string' },
  'daily-quota': { type: 'string' },
  'max-concurrent': { type: 'string' },
  admin: { type: 'boolean' },
  'moderation-policy': { type: 'string' },
  all: { type: 'boolean' },
  json: { type: 'boolean' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flag = keyof typeof options;

// Which flags each action takes; --data-dir and --help go with every one.
const flagsOf: Record<string, readonly Flag[]> = {
  create: ['name', 'rate-limit', 'daily-quota', 'max-concurrent', 'admin', 'moderation-policy', 'json'],
  list: ['all', 'json'],
  revoke: ['json'],
};

function parse(argv: string[]) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, options });
  } catch (error) {
    // parseArgs says what was wrong (an unknown flag, a missing value); add what is right.
    throw new InvalidArgumentError({ argument: 'argv', value: argv, message: `${(error as Error).message}\n${keysUsage}`, cause: error });
  }
}

function limitFlag(flag: Flag, value: string | undefined, unit: string): number | undefined {
  if (value === undefined) return undefined;
  const number = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < 1) {
    throw new InvalidArgumentError({ argument: flag, value, message: `\`--${flag}\` must be a whole number of ${unit} from 1, got ${JSON.stringify(value)}; leave it out for no limit` });
  }
  return number;
}

const limitsOf = (key: ApiKeyInfo) =>
  [
    key.rateLimitPerMinute !== undefined ? `${key.rateLimitPerMinute}/min` : undefined,
    key.dailyImageQuota !== undefined ? `${key.dailyImageQuota} images/day` : undefined,
    key.maxConcurrentJobs !== undefined ? `${key.maxConcurrentJobs} at once` : undefined,
  ]
    .filter(Boolean)
    .join(', ') || 'no limits';

const seconds = (time: string) => time.replace(/\.\d{3}Z$/, 'Z');

function table(keys: ApiKeyInfo[]): string {
  const status = (key: ApiKeyInfo) => `${key.revokedAt ? `revoked ${seconds(key.revokedAt)}` : 'active'}${key.admin ? ', admin' : ''}${key.moderationPolicy ? `, moderation ${policyName(key.moderationPolicy)}` : ''}`;
  const rows = [['PREFIX', 'ID', 'CREATED', 'STATUS', 'LIMITS', 'NAME'], ...keys.map((key) => [key.prefix, key.id, seconds(key.createdAt), status(key), limitsOf(key), key.name])];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ')).join('\n');
}

/** Runs `pixelpipe keys ...`; usage mistakes throw `InvalidArgumentError` before the database is opened. */
export async function keysCommand(argv: string[], { stdout = process.stdout, stderr = process.stderr, environment = process.env }: KeysCommandOptions = {}): Promise<void> {
  const { positionals, values } = parse(argv);
  const [action, ...targets] = positionals;
  if (values.help || action === undefined) {
    stdout.write(`${keysUsage}\n`);
    return;
  }
  const allowed = flagsOf[action];
  if (!allowed) {
    throw new InvalidArgumentError({ argument: 'action', value: action, message: `unknown \`keys\` action ${JSON.stringify(action)}; known: ${Object.keys(flagsOf).join(', ')}\n${keysUsage}` });
  }
  const misplaced = (Object.keys(values) as Flag[]).find((flag) => flag !== 'data-dir' && flag !== 'help' && !allowed.includes(flag));
  if (misplaced) {
    throw new InvalidArgumentError({ argument: misplaced, value: values[misplaced], message: `\`--${misplaced}\` does not apply to \`keys ${action}\`, which takes ${allowed.map((flag) => `--${flag}`).join(', ')}\n${keysUsage}` });
  }
  const expected = action === 'revoke' ? 1 : 0;
  if (targets.length !== expected) {
    const what = action === 'revoke' ? 'one key id or prefix (as `keys list` shows)' : 'no positional arguments';
    throw new InvalidArgumentError({ argument: action === 'revoke' ? 'idOrPrefix' : 'argv', value: targets, message: `\`keys ${action}\` takes ${what}, got ${targets.length === 0 ? 'none' : targets.map((target) => JSON.stringify(target)).join(' ')}\n${keysUsage}` });
  }
  const create = action === 'create'
    ? {
        name: values.name ?? '',
        rateLimitPerMinute: limitFlag('rate-limit', values['rate-limit'], 'requests per minute'),
        dailyImageQuota: limitFlag('daily-quota', values['daily-quota'], 'images per UTC day'),
        maxConcurrentJobs: limitFlag('max-concurrent', values['max-concurrent'], 'jobs at once'),
        ...(values.admin ? { admin: true } : {}),
        ...(values['moderation-policy'] !== undefined ? { moderationPolicy: await loadModerationPolicy(values['moderation-policy']) } : {}),
      }
    : undefined;
  if (create && create.name.trim() === '') {
    throw new InvalidArgumentError({ argument: 'name', value: values.name, message: `\`keys create\` needs --name NAME saying who or what the key is for (1 to 100 characters)\n${keysUsage}` });
  }

  const loaded = commandSettings(values['data-dir'], environment);
  if (values['data-dir'] !== undefined && loaded.settings.databaseUrl) stderr.write(`note: PIXELPIPE_DATABASE_URL is set, so keys are kept on that server and --data-dir is not used\n`);
  const admin = await openAdmin(values['data-dir'], { environment, stderr, loaded });
  try {
    if (create) {
      const { key, secret } = await admin.createKey(create);
      stdout.write(values.json ? `${JSON.stringify({ key, secret }, null, 2)}\n` : `${secret}\n`);
      const moderation = key.moderationPolicy ? `, moderation policy ${policyName(key.moderationPolicy)}` : '';
      stderr.write(`created ${key.admin ? 'admin ' : ''}key ${key.id} ${JSON.stringify(key.name)} (${key.prefix}…, ${limitsOf(key)}${moderation}). The secret is shown this once and cannot be shown again: store it now. Clients send it as \`Authorization: Bearer <secret>\`.\n`);
      return;
    }
    if (action === 'list') {
      const keys = await admin.listKeys({ includeRevoked: values.all === true });
      if (values.json) stdout.write(`${JSON.stringify(keys, null, 2)}\n`);
      else if (keys.length === 0) stdout.write(`no ${values.all ? '' : 'active '}keys; make one with \`pixelpipe keys create --name NAME\`\n`);
      else stdout.write(`${table(keys)}\n`);
      return;
    }
    const key = await admin.revokeKey(targets[0]!);
    stdout.write(values.json ? `${JSON.stringify(key, null, 2)}\n` : `revoked key ${key.id} ${JSON.stringify(key.name)} (${key.prefix}…) at ${seconds(key.revokedAt!)}\n`);
  } finally {
    await admin.close();
  }
}
