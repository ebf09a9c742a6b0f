// The API key store's suite, run on every database backend: hashing, authentication, revocation and exact daily quotas.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test, type TestContext } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import type { Database } from '../database/database.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { QuotaExceededError } from '../errors/quota-exceeded-error.js';
import { ApiKeyStore } from './api-key-store.js';

export interface ApiKeyStoreCase {
  /** Shown in test names, e.g. `pglite`. */
  name: string;
  /** A migrated database; undefined when the test was skipped (no server configured). Its keys are deleted before each test. */
  open(t: TestContext): Promise<Database | undefined>;
}

/** A clock the test moves by hand. */
function clock(start: string) {
  let time = new Date(start);
  return {
    now: () => new Date(time),
    set: (next: string) => void (time = new Date(next)),
    advance: (milliseconds: number) => void (time = new Date(time.getTime() + milliseconds)),
  };
}

const isQuotaExceeded = (expected: { quota: number; used: number; resetsAt: string }) => (error: unknown) => {
  assert.ok(QuotaExceededError.isInstance(error), `expected QuotaExceededError, got ${String(error)}`);
  assert.deepEqual({ quota: error.quota, used: error.used, resetsAt: error.resetsAt.toISOString() }, expected);
  assert.match(error.message, /resets at/);
  return true;
};

const isNotFound = (id: string) => (error: unknown) => NotFoundError.isInstance(error) && error.resource === 'key' && error.id === id;

/** Registers the suite for one backend. */
export function apiKeyStoreConformance(storeCase: ApiKeyStoreCase): void {
  const run = async (t: TestContext, body: (database: Database) => Promise<void>): Promise<void> => {
    const database = await storeCase.open(t);
    if (!database) return;
    await database.query('DELETE FROM pixelpipe.api_keys');
    await body(database);
  };
  const usageRows = (database: Database) => database.query<{ day: string; images: number }>('SELECT day::text AS day, images FROM pixelpipe.api_key_usage ORDER BY day');

  describe(`api key store: ${storeCase.name}`, () => {
    test('an admin key says so when listed and authenticated; other keys do not carry the field', (t) =>
      run(t, async (database) => {
        const store = new ApiKeyStore(database);
        const admin = await store.create({ name: 'operator', admin: true });
        const plain = await store.create({ name: 'app' });
        assert.equal(admin.key.admin, true);
        assert.equal('admin' in plain.key, false);
        assert.deepEqual((await store.list()).map((key) => [key.name, key.admin]), [['operator', true], ['app', undefined]]);
        assert.equal((await store.authenticate(admin.secret) as { admin?: true }).admin, true);
        await assert.rejects(store.create({ name: 'x', admin: 'yes' as never }), isInvalidArgument('admin', /true or false/));
      }));

    test('create gives the secret once and stores only its SHA-256 and a display prefix', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T10:00:00.000Z');
        const store = new ApiKeyStore(database, { now: time.now });
        const { key, secret } = await store.create({ name: 'ci', rateLimitPerMinute: 60, dailyImageQuota: 500, maxConcurrentJobs: 2 });
        assert.match(secret, /^pp_[A-Za-z0-9_-]{43}$/);
        assert.match(key.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(key, { id: key.id, name: 'ci', prefix: secret.slice(0, 10), createdAt: '2025-03-14T10:00:00.000Z', rateLimitPerMinute: 60, dailyImageQuota: 500, maxConcurrentJobs: 2 });

        const rows = await database.query<Record<string, unknown>>('SELECT * FROM pixelpipe.api_keys');
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.hash, createHash('sha256').update(secret).digest('hex'));
        // Nothing in the row holds the secret past its prefix.
        const stored = JSON.stringify(rows);
        assert.ok(!stored.includes(secret) && !stored.includes(secret.slice(10)), stored);

        // Unset limits are absent, not null; every secret is new.
        const plain = await store.create({ name: 'dev laptop' });
        assert.deepEqual(Object.keys(plain.key).sort(), ['createdAt', 'id', 'name', 'prefix']);
        assert.notEqual(plain.secret, secret);
      }));

    test('create refuses a bad name or limit, naming the field, and stores nothing', (t) =>
      run(t, async (database) => {
        const store = new ApiKeyStore(database);
        await assert.rejects(store.create({ name: '' }), isInvalidArgument('name', /1 to 100 characters.*got ""/));
        await assert.rejects(store.create({ name: '   ' }), isInvalidArgument('name', /1 to 100 characters/));
        await assert.rejects(store.create({ name: 'x'.repeat(101) }), isInvalidArgument('name', /1 to 100 characters/));
        await assert.rejects(store.create({ name: 42 as unknown as string }), isInvalidArgument('name', /got 42/));
        await assert.rejects(store.create({ name: 'ci', rateLimitPerMinute: 0 }), isInvalidArgument('rateLimitPerMinute', /whole number of requests per minute from 1.*got 0/));
        await assert.rejects(store.create({ name: 'ci', rateLimitPerMinute: 1.5 }), isInvalidArgument('rateLimitPerMinute', /got 1\.5/));
        await assert.rejects(store.create({ name: 'ci', dailyImageQuota: -3 }), isInvalidArgument('dailyImageQuota', /images per UTC day.*got -3/));
        await assert.rejects(store.create({ name: 'ci', dailyImageQuota: '10' as unknown as number }), isInvalidArgument('dailyImageQuota', /got "10"/));
        await assert.rejects(store.create({ name: 'ci', maxConcurrentJobs: 2 ** 31 }), isInvalidArgument('maxConcurrentJobs', /jobs at once/));
        assert.deepEqual(await store.list({ includeRevoked: true }), []);
        assert.equal((await store.create({ name: 'x'.repeat(100) })).key.name.length, 100);
      }));

    test('authenticate finds the key of a good secret, says revoked for a revoked one, and nothing for anything else', (t) =>
      run(t, async (database) => {
        const store = new ApiKeyStore(database);
        const { key, secret } = await store.create({ name: 'ci', dailyImageQuota: 10 });
        const other = await store.create({ name: 'other' });
        assert.deepEqual(await store.authenticate(secret), key);
        assert.deepEqual(await store.authenticate(other.secret), other.key);
        const unknown = `pp_${'A'.repeat(43)}`;
        for (const wrong of [unknown, secret.slice(0, -1), `${secret}x`, `Bearer ${secret}`, '', 'pp_', key.prefix, key.id, createHash('sha256').update(secret).digest('hex')]) {
          assert.equal(await store.authenticate(wrong), undefined, wrong);
        }
        assert.equal(await store.authenticate(undefined as unknown as string), undefined);
        await store.revoke(key.id);
        assert.equal(await store.authenticate(secret), 'revoked');
        assert.deepEqual(await store.authenticate(other.secret), other.key);
      }));

    test('list gives keys oldest first, revoked ones only when asked; hasKeys counts unrevoked keys', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T10:00:00.000Z');
        const store = new ApiKeyStore(database, { now: time.now });
        assert.equal(await store.hasKeys(), false);
        const created = [];
        for (const name of ['first', 'second', 'third']) {
          created.push((await store.create({ name })).key);
          time.advance(1000);
        }
        assert.equal(await store.hasKeys(), true);
        assert.deepEqual(await store.list(), created);
        const revoked = await store.revoke(created[1]!.id);
        assert.deepEqual(revoked, { ...created[1]!, revokedAt: '2025-03-14T10:00:03.000Z' });
        assert.deepEqual(await store.list(), [created[0], created[2]]);
        assert.deepEqual(await store.list({ includeRevoked: true }), [created[0], revoked, created[2]]);
        await store.revoke(created[0]!.id);
        await store.revoke(created[2]!.id);
        assert.equal(await store.hasKeys(), false);
        assert.deepEqual(await store.list(), []);
        assert.equal((await store.list({ includeRevoked: true })).length, 3);
      }));

    test('revoke takes an id or the start of a prefix, keeps the first revocation time, and refuses unknown or ambiguous ones', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T10:00:00.000Z');
        const store = new ApiKeyStore(database, { now: time.now });
        const one = await store.create({ name: 'one' });
        time.advance(1000);
        const two = await store.create({ name: 'two' });
        time.advance(1000);
        const three = await store.create({ name: 'three' });

        time.set('2025-03-14T11:00:00.000Z');
        assert.equal((await store.revoke(one.key.prefix)).revokedAt, '2025-03-14T11:00:00.000Z');
        time.set('2025-03-14T12:00:00.000Z');
        // Again, by id this time: still the first revocation.
        assert.deepEqual(await store.revoke(one.key.id), { ...one.key, revokedAt: '2025-03-14T11:00:00.000Z' });

        // Two keys sharing a prefix (1 in 2^42 by chance; forced here) cannot be told apart by it.
        await database.query('UPDATE pixelpipe.api_keys SET prefix = $1 WHERE id = $2', [two.key.prefix, three.key.id]);
        await assert.rejects(store.revoke(two.key.prefix), isInvalidArgument('idOrPrefix', new RegExp(`matches 2 keys: .*${two.key.id}.*${three.key.id}.*give the key's id`)));
        await assert.rejects(store.revoke(two.key.prefix.slice(0, 6)), isInvalidArgument('idOrPrefix', /matches [23] keys/));
        await assert.rejects(store.revoke('pp_'), isInvalidArgument('idOrPrefix', /id or at least 6 characters of its prefix.*got "pp_"/));
        assert.deepEqual(await store.list(), [two.key, { ...three.key, prefix: two.key.prefix }]);
        assert.equal((await store.revoke(three.key.id)).name, 'three');
        // A shorter start of a prefix works when only one key has it.
        await database.query('UPDATE pixelpipe.api_keys SET prefix = $1 WHERE id = $2', ['pp_zzzzzzz', three.key.id]);
        assert.equal((await store.revoke(two.key.prefix.slice(0, 8))).id, two.key.id);

        await assert.rejects(store.revoke('pp_nothere'), isNotFound('pp_nothere'));
        await assert.rejects(store.revoke('00000000-0000-4000-8000-000000000000'), isNotFound('00000000-0000-4000-8000-000000000000'));
        // `_` is a literal character of prefixes, never a wildcard.
        await assert.rejects(store.revoke('pp______'), isNotFound('pp______'));
        await assert.rejects(store.revoke(''), isInvalidArgument('idOrPrefix', /at least 6 characters/));

        // The whole secret names its key too (a leaked key can be revoked by what leaked).
        const leaked = await store.create({ name: 'leaked' });
        assert.equal((await store.revoke(leaked.secret)).id, leaked.key.id);
        assert.equal(await store.authenticate(leaked.secret), 'revoked');
      }));

    test('reserveImages counts today against the quota exactly and changes nothing when it would pass it', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T10:00:00.000Z');
        const store = new ApiKeyStore(database, { now: time.now });
        const { key } = await store.create({ name: 'ci', dailyImageQuota: 5 });
        const resetsAt = '2025-03-15T00:00:00.000Z';
        assert.deepEqual(await store.reserveImages(key, 3), { used: 3, remaining: 2, day: '2025-03-14' });
        await assert.rejects(store.reserveImages(key, 3), isQuotaExceeded({ quota: 5, used: 3, resetsAt }));
        assert.deepEqual(await store.reserveImages(key, 2), { used: 5, remaining: 0, day: '2025-03-14' });
        await assert.rejects(store.reserveImages(key, 1), isQuotaExceeded({ quota: 5, used: 5, resetsAt }));
        assert.equal(await store.imagesUsed(key), 5);

        // More than the whole quota on a fresh day: refused without making a row.
        const small = (await store.create({ name: 'small', dailyImageQuota: 2 })).key;
        await assert.rejects(store.reserveImages(small, 3), isQuotaExceeded({ quota: 2, used: 0, resetsAt }));
        assert.deepEqual(await database.query('SELECT images FROM pixelpipe.api_key_usage WHERE api_key_id = $1', [small.id]), []);

        // A key without a quota is only counted.
        const open = (await store.create({ name: 'open' })).key;
        assert.deepEqual(await store.reserveImages(open, 7), { used: 7, day: '2025-03-14' });
        assert.deepEqual(await store.reserveImages(open, 1000), { used: 1007, day: '2025-03-14' });

        await assert.rejects(store.reserveImages(key, 0), isInvalidArgument('count', /whole number of images from 1.*got 0/));
        await assert.rejects(store.reserveImages(key, 1.5), isInvalidArgument('count', /got 1\.5/));
        await assert.rejects(store.reserveImages({ ...key, id: '00000000-0000-4000-8000-000000000000' }, 1), isNotFound('00000000-0000-4000-8000-000000000000'));
      }));

    test('50 parallel reservations of one image against a quota of 20: exactly 20 succeed', (t) =>
      run(t, async (database) => {
        const store = new ApiKeyStore(database, { now: clock('2025-03-14T10:00:00.000Z').now });
        const { key } = await store.create({ name: 'busy', dailyImageQuota: 20 });
        const results = await Promise.allSettled(Array.from({ length: 50 }, () => store.reserveImages(key, 1)));
        const fulfilled = results.filter((result) => result.status === 'fulfilled');
        const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
        assert.equal(fulfilled.length, 20);
        assert.equal(rejected.length, 30);
        assert.ok(rejected.every((result) => QuotaExceededError.isInstance(result.reason)), String(rejected.find((result) => !QuotaExceededError.isInstance(result.reason))?.reason));
        // Each success saw a different count: no two were given the same image of the quota.
        assert.deepEqual(fulfilled.map((result) => result.value.used).sort((a, b) => a - b), Array.from({ length: 20 }, (_, index) => index + 1));
        assert.deepEqual(await usageRows(database), [{ day: '2025-03-14', images: 20 }]);

        // Mixed sizes from a fresh key: whatever interleaving, the total never passes the quota.
        const mixed = (await store.create({ name: 'mixed', dailyImageQuota: 20 })).key;
        const sizes = Array.from({ length: 30 }, (_, index) => (index % 4) + 1);
        const outcomes = await Promise.allSettled(sizes.map((size) => store.reserveImages(mixed, size)));
        const granted = sizes.filter((_, index) => outcomes[index]!.status === 'fulfilled').reduce((sum, size) => sum + size, 0);
        assert.equal(await store.imagesUsed(mixed), granted);
        assert.ok(granted <= 20 && granted >= 17, `granted ${granted}`);
      }));

    test('a new UTC day starts a new count, whatever was used the day before', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T23:59:59.999Z');
        const store = new ApiKeyStore(database, { now: time.now });
        const { key } = await store.create({ name: 'ci', dailyImageQuota: 4 });
        assert.deepEqual(await store.reserveImages(key, 4), { used: 4, remaining: 0, day: '2025-03-14' });
        await assert.rejects(store.reserveImages(key, 1), isQuotaExceeded({ quota: 4, used: 4, resetsAt: '2025-03-15T00:00:00.000Z' }));
        time.advance(1);
        assert.deepEqual(await store.reserveImages(key, 3), { used: 3, remaining: 1, day: '2025-03-15' });
        // Month and year ends roll over too.
        time.set('2025-12-31T12:00:00.000Z');
        await store.reserveImages(key, 4);
        await assert.rejects(store.reserveImages(key, 1), isQuotaExceeded({ quota: 4, used: 4, resetsAt: '2026-01-01T00:00:00.000Z' }));
        assert.deepEqual(await usageRows(database), [
          { day: '2025-03-14', images: 4 },
          { day: '2025-03-15', images: 3 },
          { day: '2025-12-31', images: 4 },
        ]);
      }));

    test('releaseImages gives reserved images back to their day, never below zero', (t) =>
      run(t, async (database) => {
        const time = clock('2025-03-14T23:59:59.000Z');
        const store = new ApiKeyStore(database, { now: time.now });
        const { key } = await store.create({ name: 'ci', dailyImageQuota: 5 });
        const reservation = await store.reserveImages(key, 5);
        await store.releaseImages(key, 2);
        assert.deepEqual(await store.reserveImages(key, 2), { used: 5, remaining: 0, day: '2025-03-14' });

        // A reservation made before midnight and released after it goes back to its own day.
        time.advance(2000);
        await store.reserveImages(key, 1);
        await store.releaseImages(key, 3, { day: reservation.day });
        assert.deepEqual(await usageRows(database), [
          { day: '2025-03-14', images: 2 },
          { day: '2025-03-15', images: 1 },
        ]);
        await store.releaseImages(key, 50);
        assert.equal(await store.imagesUsed(key), 0);
        // Nothing reserved that day: nothing to give back, and no row made.
        await store.releaseImages(key, 1, { day: '2025-01-01' });
        assert.equal((await usageRows(database)).length, 2);
        await assert.rejects(store.releaseImages(key, 1, { day: '14/03/2025' }), isInvalidArgument('day', /YYYY-MM-DD/));
        await assert.rejects(store.releaseImages(key, -1), isInvalidArgument('count', /got -1/));
      }));

    test('deleting a key deletes its usage', (t) =>
      run(t, async (database) => {
        const store = new ApiKeyStore(database);
        const { key } = await store.create({ name: 'ci' });
        await store.reserveImages(key, 2);
        await database.query('DELETE FROM pixelpipe.api_keys WHERE id = $1', [key.id]);
        assert.deepEqual(await usageRows(database), []);
      }));
  });
}
