// A worker's lanes: room per lane from the jobs running and the outcomes still being written.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Lanes } from './lanes.js';

test('running jobs take room in their lane; other lanes keep theirs, and lanes not named share the `*` limit', () => {
  const lanes = new Lanes(1, { openai: 3, '*': 2 });
  assert.deepEqual(lanes.room(['openai', 'openai', 'local', 'fal']), { room: { lanes: { openai: 1, local: 0, fal: 1 }, otherLanes: 2 }, total: 2 });
});

test('outcomes being written take no room up to a lane\'s limit of them, and each one past it takes a slot', () => {
  const lanes = new Lanes(1, { openai: 3, '*': 2 });
  // Up to the limit: as if nothing were being written.
  assert.deepEqual(lanes.room([], ['openai', 'openai', 'openai', 'local']).room.lanes, { openai: 3, local: 1 });
  // Past it: the database is behind, and the lane takes fewer new jobs.
  assert.deepEqual(lanes.room(['openai'], ['openai', 'openai', 'openai', 'openai', 'local', 'local']).room.lanes, { openai: 1, local: 0 });
  // A lane not named is held to the `*` limit alike.
  assert.deepEqual(lanes.room(['fal'], ['fal', 'fal', 'fal']).room.lanes, { openai: 3, local: 1, fal: 0 });
  // So a lane holds at most twice its limit of jobs: a job done of three running, with three outcomes already waiting, frees no room.
  assert.equal(lanes.room(['openai', 'openai', 'openai'], ['openai', 'openai', 'openai']).room.lanes.openai, 0);
  assert.equal(lanes.room(['openai', 'openai'], ['openai', 'openai', 'openai', 'openai']).room.lanes.openai, 0);
});
