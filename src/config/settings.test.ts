// Settings from the environment: defaults, the forms a variable may take, and errors that name the variable.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadSettings, overrideSettings } from './settings.js';

const home = { HOME: '/home/someone' };

test('hosted jobs at once: 16 per provider by default, a number for all, or PROVIDER=N pairs and a number for the rest', () => {
  assert.deepEqual(loadSettings({}, home).hostedConcurrency, { '*': 16 });
  assert.deepEqual(loadSettings({}, { ...home, PIXELPIPE_HOSTED_CONCURRENCY: '4' }).hostedConcurrency, { '*': 4 });
  assert.deepEqual(loadSettings({}, { ...home, PIXELPIPE_HOSTED_CONCURRENCY: 'openai=8, fal=32 ,16' }).hostedConcurrency, { openai: 8, fal: 32, '*': 16 });
  // Code gives the object itself, and wins over the environment.
  assert.deepEqual(loadSettings({ hostedConcurrency: { openai: 2 } }, { ...home, PIXELPIPE_HOSTED_CONCURRENCY: '4' }).hostedConcurrency, { openai: 2 });
  assert.throws(() => loadSettings({}, { ...home, PIXELPIPE_HOSTED_CONCURRENCY: 'openai:8' }), /setting `hostedConcurrency` \(PIXELPIPE_HOSTED_CONCURRENCY\) is invalid: must be a number of jobs, or PROVIDER=N pairs and a number for the others, e.g. 16 or openai=8,fal=32,16, got "openai:8"/);
});

test('settings already loaded are given back as they are, and overrides are checked without reading the environment again', () => {
  const settings = loadSettings({}, { ...home, PIXELPIPE_DATA_DIR: '/srv/a' });
  assert.equal(loadSettings(settings), settings);
  const moved = overrideSettings(settings, { dataDir: '/srv/b' });
  assert.equal(moved.dataDir, '/srv/b');
  assert.deepEqual(moved.hostedConcurrency, settings.hostedConcurrency);
  assert.throws(() => overrideSettings(settings, { databaseUrl: 'mysql://x' }), /databaseUrl.*must start with postgres:\/\//);
});
