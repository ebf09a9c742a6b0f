// The registry of known-good exports: every entry pinned to a full commit sha, with evidence and a licence.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseModelRef } from './model-cache.js';
import { defaultModelId, findRegistryEntry, modelRegistry } from './model-registry.js';

describe('modelRegistry', () => {
  it('pins every entry to a commit and says where that was checked', () => {
    for (const entry of modelRegistry) {
      assert.match(entry.revision, /^[0-9a-f]{40}$/, entry.repoId);
      assert.deepEqual(parseModelRef(`${entry.repoId}@${entry.revision}`), { repoId: entry.repoId, revision: entry.revision });
      assert.match(entry.evidence, new RegExp(`^https://huggingface\\.co/${entry.repoId}/`), entry.repoId);
      assert.ok(entry.license.length > 0, entry.repoId);
    }
    assert.equal(new Set(modelRegistry.map((entry) => entry.alias)).size, modelRegistry.length);
    assert.equal(new Set(modelRegistry.map((entry) => entry.repoId)).size, modelRegistry.length);
  });

  it('has a default SD-Turbo model that runs without CUDA', () => {
    const entry = findRegistryEntry(defaultModelId);
    assert.equal(entry?.family, 'sd-turbo');
    assert.equal(entry?.executionProviders, undefined);
  });

  it('finds entries by alias or repo id, ignoring case', () => {
    assert.equal(findRegistryEntry('sd-turbo')?.repoId, defaultModelId);
    assert.equal(findRegistryEntry(defaultModelId.toUpperCase())?.alias, 'sd-turbo');
    assert.equal(findRegistryEntry('nobody/nothing'), undefined);
  });
});
