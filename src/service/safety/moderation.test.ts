// The checks a service runs: outcomes, audit entries and refusals; a key's own policy; a failing classifier blocks; the image screen writes the audit log.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { migrate } from '../database/migrations.js';
import { PGliteDatabase } from '../database/pglite-database.js';
import type { FinishingContext } from '../provenance/image-finishing.js';
import { startMockApiServer, testImage, type MockApiServer } from '../../testing/mock-api-server.js';
import { AuditLog } from './audit-log.js';
import { llamaGuardChatAnswer, openaiModerationAnswer } from './moderation-answers.case.js';
import { parseModerationPolicy } from './moderation-policy.js';
import { createModeration, moderationScreen } from './moderation.js';

let server: MockApiServer;
before(async () => (server = await startMockApiServer()));
after(() => server.close());

const keyId = '0b6f7ad2-5b1e-4c55-9d43-2f6e1a7c3b10';

test('a blocked prompt: its decision, the record\'s verdict, the audit entry, and a ContentPolicyError naming the policy and rule', async () => {
  const moderation = createModeration({ policy: parseModerationPolicy({ name: 'strict', terms: { block: ['gore'] }, image: { classifier: 'none' } }) });
  const blocked = await moderation.checkPrompt({ prompt: 'Gore everywhere', apiKeyId: keyId });
  assert.deepEqual(blocked.decision, { action: 'block', rule: 'terms.block', matched: 'Gore' });
  assert.deepEqual(blocked.verdict, { action: 'block', rule: 'terms.block' });
  assert.equal(blocked.policy, 'strict');
  assert.deepEqual(blocked.entry, { stage: 'prompt', action: 'block', apiKeyId: keyId, policy: 'strict', rule: 'terms.block', details: { matched: 'Gore' } });
  assert.ok(ContentPolicyError.isInstance(blocked.refusal));
  assert.equal(blocked.refusal.isRetryable, false);
  assert.match(blocked.refusal.message, /^the prompt was blocked by the moderation policy "strict" \(terms\.block\); change the prompt/);

  const allowed = await moderation.checkPrompt({ prompt: 'a quiet lake' });
  assert.deepEqual([allowed.entry, allowed.refusal], [{ stage: 'prompt', action: 'allow', policy: 'strict' }, undefined]);
  await moderation.close();
});

test('a key\'s own policy wins over the server\'s: given with the check, or looked up by the key\'s id; off is recorded as off', async () => {
  const asked: string[] = [];
  const moderation = createModeration({
    policy: parseModerationPolicy({ name: 'server', terms: { block: ['gore'] } }),
    keyPolicy: async (id) => (asked.push(id), id === keyId ? parseModerationPolicy({ name: 'lenient', terms: { flag: ['gore'] } }) : undefined),
  });
  const off = await moderation.checkPrompt({ prompt: 'gore', apiKeyId: keyId, policy: 'off' });
  assert.deepEqual([off.entry, off.verdict, off.refusal], [{ stage: 'prompt', action: 'off', apiKeyId: keyId, policy: 'off' }, { action: 'off' }, undefined]);
  assert.deepEqual(asked, [], 'a policy given with the check is not looked up');
  const own = await moderation.checkPrompt({ prompt: 'gore', apiKeyId: keyId });
  assert.deepEqual([own.policy, own.decision.action], ['lenient', 'flag']);
  const other = await moderation.checkPrompt({ prompt: 'gore', apiKeyId: '7c9e6679-7425-40de-944b-e07fc1f90ae7' });
  assert.deepEqual([other.policy, other.decision.action], ['server', 'block']);
  assert.equal(asked.length, 2);
});

test('a classifier that cannot be read blocks, with its own error as the refusal and in the audit entry', async () => {
  server.route('POST', '/v1/chat/completions', { json: llamaGuardChatAnswer('I am not sure.') });
  const moderation = createModeration({ policy: parseModerationPolicy({ name: 'guarded', prompt: { classifier: 'llama-guard', baseURL: `${server.url}/v1`, model: 'llama-guard3:1b' } }) });
  const outcome = await moderation.checkPrompt({ prompt: 'a cat', apiKeyId: keyId });
  assert.deepEqual(outcome.verdict, { action: 'block', rule: 'classifier-failed' });
  assert.ok(InvalidResponseError.isInstance(outcome.refusal));
  assert.equal(outcome.entry.rule, 'classifier-failed');
  assert.match(String(outcome.entry.details!.error), /llama-guard \(llama-guard3:1b at .*\) answered in a shape Llama Guard does not/);
});

test('the image screen gives an allowed image\'s audit entry back to be written with its record, and writes a block\'s itself before throwing', async () => {
  const database = await PGliteDatabase.open();
  try {
    await migrate(database);
    const log = new AuditLog(database);
    server.route('POST', '/v1/moderations', { json: openaiModerationAnswer({ violence: 0.4 }, { input: 'image' }) }, { json: openaiModerationAnswer({ sexual: 0.95 }, { flagged: ['sexual'], input: 'image' }) });
    const moderation = createModeration({
      policy: parseModerationPolicy({ name: 'hosted', image: { classifier: 'openai', baseURL: `${server.url}/v1` }, categories: { sexual: 'block' } }),
      environment: { OPENAI_API_KEY: 'sk-test' },
    });
    const screen = moderationScreen(moderation, log);
    const image = { bytes: await testImage('png', 16, 16), mediaType: 'image/png' };
    const context = { recordId: '7c9e6679-7425-40de-944b-e07fc1f90ae7', jobId: '01933b8e-7c2a-7000-8000-4a1b2c3d4e5f', apiKeyId: keyId } as FinishingContext;

    const allowed = await screen(image, context);
    assert.deepEqual(allowed.verdict, { action: 'allow' });
    assert.deepEqual([allowed.entry?.stage, allowed.entry?.action, allowed.entry?.recordId], ['image', 'allow', context.recordId]);
    assert.deepEqual((await log.list()).entries, [], 'an allowed image\'s entry is written with its record, not here');
    await assert.rejects(screen(image, context), (error: unknown) => ContentPolicyError.isInstance(error) && /^the image was blocked by the moderation policy "hosted" \(categories\.sexual, category sexual\)/.test(error.message));
    const { entries } = await log.list();
    assert.deepEqual(entries.map(({ stage, action, rule, classifier, recordId, jobId, apiKeyId }) => ({ stage, action, rule, classifier, recordId, jobId, apiKeyId })), [
      { stage: 'image', action: 'block', rule: 'categories.sexual', classifier: 'openai:omni-moderation-2024-09-26', ...context },
    ]);
    assert.equal(entries[0]!.scores!.sexual, 0.95);
    await moderation.close();
  } finally {
    await database.close();
  }
});
