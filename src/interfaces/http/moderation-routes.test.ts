// Moderation on the real service: a blocked prompt is a 400 in OpenAI's shape before any job or model call,
// a blocked image is never stored, a provider's refusal is audited, and the record keeps the decisions.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseModerationPolicy } from '../../service/safety/moderation-policy.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { testModel } from '../../testing/test-model-provider.js';
import { errorOf, pgliteCase, sharedTestService } from './http-test-harness.case.js';

const work = await mkdtemp(join(tmpdir(), 'pixelpipe-moderation-'));
let shared: ReturnType<typeof sharedTestService>;
before(async () => {
  const policy = join(work, 'server-policy.yaml');
  await writeFile(policy, 'terms:\n  block: [forbidden]\n  flag: [blood]\nimage:\n  classifier: none\n');
  shared = sharedTestService(pgliteCase, { settings: { moderationPolicy: policy } });
});
after(async () => {
  await shared.close();
  await rm(work, { recursive: true, force: true });
});

async function blobCount(server: { service: { storage: { list(prefix?: string): AsyncIterable<string> } } }): Promise<number> {
  let count = 0;
  for await (const _key of server.service.storage.list()) count++;
  return count;
}

test('a blocked prompt is a 400 content_policy_violation on both APIs, before any job or model call, and is audited', async (t) => {
  const server = (await shared.startServer(t))!;
  const calls = testModel.calls.length;
  for (const [path, body] of [['/v1/jobs', { prompt: 'a Forbidden cube' }], ['/v1/images/generations', { prompt: 'a forbidden cube', size: '64x64' }]] as const) {
    const { response, body: answer } = await server.postJson(path, body);
    assert.equal(response.status, 400, path);
    const error = errorOf(answer);
    assert.deepEqual([error.type, error.code, error.param], ['invalid_request_error', 'content_policy_violation', 'prompt'], path);
    assert.match(error.message, /the prompt was blocked by the moderation policy "server-policy" \(terms\.block/);
  }
  assert.equal(server.submissions.filter((submission) => submission.jobId).length, 0);
  assert.equal(testModel.calls.length, calls, 'no model call for a blocked prompt');
  const blocked = (await server.service.listAudit({ action: 'block' })).entries.filter((entry) => entry.stage === 'prompt');
  assert.equal(blocked.length, 2);
  assert.deepEqual(blocked.map((entry) => [entry.rule, entry.policy, entry.details?.matched]), [['terms.block', 'server-policy', 'forbidden'], ['terms.block', 'server-policy', 'Forbidden']]);
});

test('an allowed and a flagged prompt run; the record keeps the decisions and the audit log has them with the job', async (t) => {
  const server = (await shared.startServer(t))!;
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a cube with blood on it' });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'succeeded');
  assert.deepEqual(job.records[0]!.provenance?.moderation, { policy: 'server-policy', prompt: { action: 'flag', rule: 'terms.flag' }, image: { action: 'allow' } });
  const entries = (await server.service.listAudit({})).entries.filter((entry) => entry.jobId === job.id || entry.recordId === job.records[0]!.id);
  assert.deepEqual(entries.map((entry) => [entry.stage, entry.action]).sort(), [['image', 'allow'], ['prompt', 'flag']]);
});

test('a key whose policy blocks the image: the job fails with content_policy_violation, nothing is stored, the block is audited', async (t) => {
  const server = (await shared.startServer(t))!;
  const strict = await server.service.keys.create({ name: 'strict', moderationPolicy: parseModerationPolicy({ name: 'no-images', image: { classifier: 'nsfwjs', classes: { Neutral: { action: 'block', threshold: 0 }, Drawing: { action: 'block', threshold: 0 } } } }) });
  t.after(() => server.service.keys.revoke(strict.key.id));
  const blobs = await blobCount(server);
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a plain cube' }, { authorization: `Bearer ${strict.secret}` });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'failed');
  assert.equal(job.error?.name, 'ContentPolicyError');
  assert.equal(job.attempts, 1, 'a blocked image is not retried');
  assert.match(job.error!.message, /the image was blocked by the moderation policy "no-images" \(image\.classes\.(Neutral|Drawing)/);
  assert.deepEqual(job.records, []);
  assert.equal(await blobCount(server), blobs, 'a blocked image leaves no blob behind');
  const [entry] = (await server.service.listAudit({ action: 'block' })).entries.filter((audited) => audited.jobId === job.id);
  assert.deepEqual([entry!.stage, entry!.classifier, entry!.apiKeyId], ['image', 'nsfwjs:mobilenet_v2', strict.key.id]);
  assert.ok(entry!.scores && Math.abs(Object.values(entry!.scores).reduce((sum, score) => sum + score, 0) - 1) < 0.01, 'nsfwjs probabilities sum to 1');
});

test('a provider\'s own refusal fails the job and goes into the same audit log', async (t) => {
  const server = (await shared.startServer(t))!;
  testModel.failWith(new ContentPolicyError({ provider: 'test-model', message: 'the provider refused this prompt' }));
  const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a refused cube' });
  const job = await server.completeJob(submitted.id);
  assert.equal(job.state, 'failed');
  const [entry] = (await server.service.listAudit({})).entries.filter((audited) => audited.jobId === job.id && audited.stage === 'provider');
  assert.deepEqual([entry!.action, entry!.classifier, entry!.details?.message], ['block', 'test-model', 'the provider refused this prompt']);
});
