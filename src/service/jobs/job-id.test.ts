// Job ids: version 7 UUIDs that sort in the order they were made, also many within one millisecond.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createJobId } from './job-id.js';
import { isJobId } from './job-status.js';

test('ids are version 7 UUIDs carrying the time they were made', () => {
  const id = createJobId(() => Date.UTC(2030, 0, 1));
  assert.ok(isJobId(id));
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(parseInt(id.replace(/-/g, '').slice(0, 12), 16), Date.UTC(2030, 0, 1));
});

test('ids made in one millisecond, or while the clock steps back, still sort in the order they were made', () => {
  const times = [...Array.from({ length: 5000 }, () => Date.UTC(2031, 0, 1)), Date.UTC(2031, 0, 1) - 5, Date.UTC(2031, 0, 1) + 10];
  const ids = times.map((time) => createJobId(() => time));
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
});
