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

test('a lane that was full when a claim found no job in the lanes not named keeps its own room once its jobs end', () => {
  const lanes = new Lanes(1, { '*': 2 });
  // Two openai jobs run, so openai is full; a claim for the other lanes finds nothing and drains them.
  const { room } = lanes.room(['openai', 'openai']);
  assert.deepEqual(room, { lanes: { local: 1, openai: 0 }, otherLanes: 2 });
  lanes.claimedAll(room, []);
  // Both end (their outcomes written): the drain was no news about openai, whose queue may still hold jobs.
  assert.deepEqual(lanes.room([]), { room: { lanes: { local: 0, openai: 2 }, otherLanes: 0 }, total: 2 });
  assert.equal(lanes.mayHaveMore('openai'), true);
});

test('a submit forgets the drain of its own lane only: of `*` for a lane the draining claim did not name', () => {
  const lanes = new Lanes(1, { openai: 3, '*': 2 });
  const { room } = lanes.room([]);
  lanes.claimedAll(room, []);
  assert.deepEqual(lanes.room([]), { room: { lanes: { openai: 0, local: 0 }, otherLanes: 0 }, total: 0 });
  // openai jobs submitted: only openai is worth a claim.
  lanes.forget(['openai']);
  assert.deepEqual(lanes.room([]), { room: { lanes: { openai: 3, local: 0 }, otherLanes: 0 }, total: 3 });
  // Jobs of a lane not named: the lanes not named are worth a claim again, local still is not.
  lanes.forget(['fal']);
  assert.deepEqual(lanes.room([]), { room: { lanes: { openai: 3, local: 0 }, otherLanes: 2 }, total: 3 });
  // Forgetting everything (the poll, or a job submitted elsewhere) opens every lane.
  lanes.forget();
  assert.deepEqual(lanes.room([]).room, { lanes: { openai: 3, local: 1 }, otherLanes: 2 });
});
