// `pixelpipe audit` against a data directory (--json, filters, usage errors before the database opens), and `keys create --moderation-policy`.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { serviceAdmin } from '../../service/admin/service-admin.js';
import { migrate } from '../../service/database/migrations.js';
import { createImageService } from '../../service/image-service.js';
import { PGliteDatabase } from '../../service/database/pglite-database.js';
import type { ApiKeyInfo } from '../../service/image-service-types.js';
import { AuditLog, type AuditPage } from '../../service/safety/audit-log.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createAdminRoutes } from '../http/admin-routes.js';
import { startHttpServer } from '../http/http-server.js';
import { auditCommand, parseSince } from './audit-command.js';
import { keysCommand } from './keys-command.js';
import { adminSocketPath } from './service-data.js';

let work: string;
before(async () => (work = await mkdtemp(join(tmpdir(), 'pixelpipe-audit-cli-'))));
after(() => rm(work, { recursive: true, force: true }));

const output = () => {
  const written = { stdout: '', stderr: '' };
  return { written, stdout: { write: (text: string) => (written.stdout += text) }, stderr: { write: (text: string) => (written.stderr += text) } };
};

const now = new Date('2026-03-01T12:00:00.000Z');

test('audit --json gives the log newest first; --action, --since and --limit filter; text lines show who, what and why', async () => {
  const dataDir = join(work, 'log');
  const database = await PGliteDatabase.open({ dataDir: join(dataDir, 'database') });
  let time = new Date('2026-03-01T09:00:00.000Z');
  const log = new AuditLog(database, { now: () => time });
  try {
    await migrate(database);
    await log.append([{ stage: 'prompt', action: 'allow', policy: 'default', apiKeyId: '0b6f7ad2-5b1e-4c55-9d43-2f6e1a7c3b10' }]);
    time = new Date('2026-03-01T11:30:00.000Z');
    await log.append([
      { stage: 'prompt', action: 'block', policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } },
      { stage: 'image', action: 'flag', policy: 'default', classifier: 'nsfwjs:mobilenet_v2', category: 'Sexy', jobId: '01933b8e-7c2a-7000-8000-4a1b2c3d4e5f', scores: { Sexy: 0.93, Neutral: 0.05 } },
    ]);
  } finally {
    await database.close();
  }
  const environment = { PIXELPIPE_DATA_DIR: dataDir };
  const audit = async (argv: string[]) => {
    const { written, stdout, stderr } = output();
    await auditCommand(argv, { stdout, stderr, environment, now: () => now });
    return written;
  };

  const all = await audit(['--json']);
  assert.match(all.stderr, /data directory: .*log \(PIXELPIPE_DATA_DIR\); using the embedded database/);
  const page = JSON.parse(all.stdout) as AuditPage;
  assert.deepEqual(page.entries.map((entry) => [entry.stage, entry.action, entry.createdAt]), [['image', 'flag', '2026-03-01T11:30:00.000Z'], ['prompt', 'block', '2026-03-01T11:30:00.000Z'], ['prompt', 'allow', '2026-03-01T09:00:00.000Z']]);
  assert.deepEqual(page.entries[1], { id: page.entries[1]!.id, createdAt: '2026-03-01T11:30:00.000Z', stage: 'prompt', action: 'block', policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } });
  assert.equal(page.nextCursor, undefined);

  // The allow is older than an hour; of the rest, one blocks.
  assert.deepEqual((JSON.parse((await audit(['--json', '--action', 'block', '--since', '1h'])).stdout) as AuditPage).entries.map((entry) => entry.rule), ['terms.block']);

  const text = await audit(['--limit', '2']);
  assert.deepEqual(text.stdout.trim().split('\n'), [
    '2026-03-01T11:30:00Z  image   flag   default  nsfwjs:mobilenet_v2  Sexy  key -  job 01933b8e…  top Sexy 0.93',
    '2026-03-01T11:30:00Z  prompt  block  strict  terms.block  -  key -  job -',
  ]);
  assert.match(text.stderr, /more: pixelpipe audit --cursor \d+ with the same --since, --action and --limit\n$/);
});

test('usage mistakes are refused, naming the flag and the fix, before any database opens', async () => {
  const environment = { PIXELPIPE_DATA_DIR: join(work, 'never-made') };
  const run = (argv: string[]) => auditCommand(argv, { ...output(), environment, now: () => now });
  await assert.rejects(run(['--action', 'deny']), isInvalidArgument('action', /`--action` must be one of allow, flag, block, off, got "deny"/));
  await assert.rejects(run(['--since', 'yesterday']), isInvalidArgument('since', /how long ago \(30m, 12h, 7d/));
  await assert.rejects(run(['--limit', '0']), isInvalidArgument('limit', /from 1 to 1000, got "0"/));
  await assert.rejects(run(['--color']), isInvalidArgument('argv', /Unknown option '--color'/));
  assert.equal(parseSince('90m', now).toISOString(), '2026-03-01T10:30:00.000Z');
  assert.equal(parseSince('7d', now).toISOString(), '2026-02-22T12:00:00.000Z');
  const { written, stdout, stderr } = output();
  await auditCommand(['--help'], { stdout, stderr, environment });
  assert.match(written.stdout, /^usage: pixelpipe audit/);
});

test('keys create --moderation-policy stores the checked file (or off) with the key, and keys list shows its name', async () => {
  const dataDir = join(work, 'keys');
  const environment = { PIXELPIPE_DATA_DIR: dataDir };
  const keys = async (argv: string[]) => {
    const { written, stdout, stderr } = output();
    await keysCommand(argv, { stdout, stderr, environment });
    return written;
  };
  const file = join(work, 'kids.yaml');
  await writeFile(file, 'terms:\n  block: [gore]\ncategories:\n  sexual: block\n');
  const created = await keys(['create', '--name', 'kids app', '--moderation-policy', file, '--json']);
  const { key } = JSON.parse(created.stdout) as { key: ApiKeyInfo };
  assert.deepEqual(key.moderationPolicy, {
    name: 'kids', terms: { block: ['gore'], flag: [] }, patterns: [], categories: { sexual: { action: 'block' } }, otherCategories: 'flag', prompt: { classifier: 'none' },
    image: { classifier: 'nsfwjs', model: 'mobilenet_v2', classes: { Porn: { action: 'block', threshold: 0.85 }, Hentai: { action: 'block', threshold: 0.85 }, Sexy: { action: 'flag', threshold: 0.9 } } },
  });
  assert.match(created.stderr, /, moderation policy kids\)/);
  await keys(['create', '--name', 'internal', '--moderation-policy', 'off']);
  const listed = (await keys(['list'])).stdout;
  assert.match(listed, /active, moderation kids\s+no limits\s+kids app\n/);
  assert.match(listed, /active, moderation off\s+no limits\s+internal\n/);

  // A bad file is refused, naming it, before any key is made.
  await writeFile(file, 'categories:\n  nudity: block\n');
  await assert.rejects(keys(['create', '--name', 'x', '--moderation-policy', file]), isInvalidArgument('categories.nudity', /kids\.yaml:2:3: moderation policy `categories\.nudity` is no known category; known: /));
  await assert.rejects(keys(['list', '--moderation-policy', 'off']), isInvalidArgument('moderation-policy', /does not apply to `keys list`/));
});

test('beside a running server, audit and keys create --moderation-policy go through its admin socket', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pp-audit-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const service = await createImageService({ settings: { dataDir, cacheDir: join(dataDir, 'models') }, workers: 0 });
  t.after(() => service.close());
  const socket = await startHttpServer({ app: createAdminRoutes(serviceAdmin(service), () => ({ pid: process.pid, dataDir, database: service.databaseKind })), socketPath: adminSocketPath(dataDir) });
  t.after(() => socket.close());
  const environment = { PIXELPIPE_DATA_DIR: dataDir };

  const file = join(dataDir, 'strict.yaml');
  await writeFile(file, 'terms:\n  block: [gore]\n');
  const created = output();
  await keysCommand(['create', '--name', 'app', '--moderation-policy', file, '--json'], { ...created, environment });
  const { key } = JSON.parse(created.written.stdout) as { key: ApiKeyInfo };
  assert.match(created.written.stderr, /using the running server/);
  assert.deepEqual(await service.keys.moderationPolicyOf(key.id), key.moderationPolicy);
  assert.equal((key.moderationPolicy as { name: string }).name, 'strict');

  const [written] = await service.audit.append([{ stage: 'prompt', action: 'block', apiKeyId: key.id, policy: 'strict', rule: 'terms.block' }]);
  const listed = output();
  await auditCommand(['--json', '--since', '1h'], { ...listed, environment });
  assert.match(listed.written.stderr, /using the running server/);
  assert.deepEqual(JSON.parse(listed.written.stdout), { entries: [written] });
});
