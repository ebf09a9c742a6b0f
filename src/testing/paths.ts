// Where tests find their data: our own copies under test-data/, third-party files in ../shared.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A path under the repository's own test data (copied from shared/, committed). */
export function testData(...parts: string[]): string {
  return join(repoRoot, 'test-data', ...parts);
}

/** The shared folder beside the checkout, which holds third-party files we may not commit. */
export const sharedRoot = resolve(repoRoot, '..', 'shared');

/**
 * Path to a third-party file in ../shared. In CI (`CI=true`) a missing file fails the test;
 * elsewhere the test is skipped with a loud message saying it was not run.
 * Returns undefined when the caller should return early.
 */
export function sharedFile(t: TestContext, ...parts: string[]): string | undefined {
  const path = join(sharedRoot, ...parts);
  if (existsSync(path)) return path;
  if (process.env.CI === 'true') throw new Error(`third-party test file missing in CI: ${path}`);
  const message = `NOT RUN: ${path} is absent (third-party data lives in ../shared and is never committed)`;
  console.warn(`\n!!! ${message}\n`);
  t.skip(message);
  return undefined;
}
