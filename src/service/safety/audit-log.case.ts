// The audit log's suite, run on every database backend: writing decisions beside other work, and reading them back by time, action and page.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import type { Database } from '../database/database.js';
import { AuditLog } from './audit-log.js';

export interface AuditLogCase {
  /** Shown in test names, e.g. `pglite`. */
  name: string;
  /** A migrated database; undefined when the test was skipped (no server configured). Its audit log is emptied before each test. */
  open(t: TestContext): Promise<Database | undefined>;
}

const keyId = '0b6f7ad2-5b1e-4c55-9d43-2f6e1a7c3b10';
const jobId = '01933b8e-7c2a-7000-8000-4a1b2c3d4e5f';

/** Registers the suite for one backend. */
export function auditLogConformance(logCase: AuditLogCase): void {
  const run = async (t: TestContext, body: (database: Database) => Promise<void>): Promise<void> => {
    const database = await logCase.open(t);
    if (!database) return;
    await database.query('DELETE FROM pixelpipe.audit_log');
    await body(database);
  };

  describe(`audit log: ${logCase.name}`, () => {
    test('entries come back as written, unset fields absent, scores and details as JSON', (t) =>
      run(t, async (database) => {
        const log = new AuditLog(database, { now: () => new Date('2026-03-01T12:00:00.000Z') });
        const written = await log.append([
          { stage: 'prompt', action: 'block', apiKeyId: keyId, policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } },
          { stage: 'image', action: 'allow', apiKeyId: keyId, jobId, recordId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', policy: 'default', classifier: 'nsfwjs:mobilenet_v2', scores: { Porn: 0.0123, Neutral: 0.9 } },
          { stage: 'prompt', action: 'off' },
        ]);
        assert.equal(written.length, 3);
        assert.ok(Number(written[1]!.id) > Number(written[0]!.id), 'ids rise in the order written');
        const { entries, nextCursor } = await log.list();
        assert.equal(nextCursor, undefined);
        assert.deepEqual(entries, [...written].reverse());
        assert.deepEqual(entries[2], { id: written[0]!.id, createdAt: '2026-03-01T12:00:00.000Z', stage: 'prompt', action: 'block', apiKeyId: keyId, policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } });
        assert.deepEqual(entries[1]!.scores, { Porn: 0.0123, Neutral: 0.9 });
        assert.deepEqual(Object.keys(entries[0]!).sort(), ['action', 'createdAt', 'id', 'stage']);
        assert.deepEqual(await log.append([]), []);
      }));

    test('a transaction that fails takes its entries with it', (t) =>
      run(t, async (database) => {
        const log = new AuditLog(database);
        await assert.rejects(database.transaction(async (transaction) => {
          await log.append([{ stage: 'prompt', action: 'allow' }], transaction);
          throw new Error('the job could not be queued');
        }), /could not be queued/);
        assert.deepEqual((await log.list()).entries, []);
        // The table itself refuses what no decision is.
        await assert.rejects(log.append([{ stage: 'prompt', action: 'maybe' as never }]), /check constraint/);
      }));

    test('since, action and pages of limit entries, newest first; a cursor never repeats or skips an entry', (t) =>
      run(t, async (database) => {
        let time = new Date('2026-03-01T00:00:00.000Z');
        const log = new AuditLog(database, { now: () => time });
        const actions = ['allow', 'block', 'flag', 'allow', 'block', 'allow', 'block'] as const;
        for (const [index, action] of actions.entries()) {
          time = new Date(Date.UTC(2026, 2, 1, index));
          await log.append([{ stage: 'prompt', action, details: { index } }]);
        }
        // Two entries written at one instant are told apart by id.
        await log.append([{ stage: 'image', action: 'block', details: { index: 7 } }, { stage: 'image', action: 'block', details: { index: 8 } }]);
        const indexes = (entries: { details?: Record<string, unknown> }[]) => entries.map((entry) => entry.details!.index);

        assert.deepEqual(indexes((await log.list({ since: new Date('2026-03-01T04:00:00Z') })).entries), [8, 7, 6, 5, 4]);
        assert.deepEqual(indexes((await log.list({ action: 'block' })).entries), [8, 7, 6, 4, 1]);
        const seen: unknown[] = [];
        let page = await log.list({ action: 'block', limit: 3 });
        seen.push(...indexes(page.entries));
        assert.ok(page.nextCursor);
        page = await log.list({ action: 'block', limit: 3, cursor: page.nextCursor });
        seen.push(...indexes(page.entries));
        assert.equal(page.nextCursor, undefined);
        assert.deepEqual(seen, [8, 7, 6, 4, 1]);
        assert.deepEqual((await log.list({ since: new Date('2026-03-02T00:00:00Z') })).entries, []);
      }));

    test('a bad filter names its field and the fix', (t) =>
      run(t, async (database) => {
        const log = new AuditLog(database);
        await assert.rejects(log.list({ limit: 0 }), isInvalidArgument('limit', /from 1 to 1000, got 0/));
        await assert.rejects(log.list({ action: 'deny' as never }), isInvalidArgument('action', /one of allow, flag, block, off, got "deny"/));
        await assert.rejects(log.list({ cursor: 'abc' }), isInvalidArgument('cursor', /nextCursor of a previous page/));
        await assert.rejects(log.list({ since: new Date('nonsense') }), isInvalidArgument('since', /ISO 8601/));
      }));
  });
}
