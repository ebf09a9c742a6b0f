// What the build puts in dist/ (and so in the published package): the library and the CLI, never the test helpers or doubles.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { relative } from 'node:path';
import { test } from 'node:test';
import { repoRoot } from './paths.js';

test('the build compiles no test, test case or test helper, not even through an import', () => {
  // --listFilesOnly names every file the build would compile, including those pulled in by imports from included ones.
  const listed = execFileSync(process.execPath, [`${repoRoot}/node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json', '--listFilesOnly'], { cwd: repoRoot, encoding: 'utf8' });
  const ours = listed.split('\n').map((file) => relative(repoRoot, file.trim())).filter((file) => file.startsWith('src/'));
  assert.ok(ours.includes('src/index.ts') && ours.length > 100, `the build lists the sources: ${ours.length}`);
  assert.deepEqual(ours.filter((file) => /^src\/testing\/|\.test\.ts$|\.case\.ts$/.test(file)), []);
});
