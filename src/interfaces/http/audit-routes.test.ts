// GET /v1/audit on the real service: admin keys only (401 without a key, 403 for others), filters and pages, bad queries refused by field.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { errorOf, pgliteCase, sharedTestService } from './http-test-harness.case.js';

const shared = sharedTestService(pgliteCase);
after(() => shared.close());

test('the audit log answers admin keys only, newest first, filtered and paged', async (t) => {
  const keyless = await shared.startServer(t);
  if (!keyless) return;
  // A server without keys (loopback only) still keeps the log to admin keys.
  const open = await keyless.request('/v1/audit');
  assert.equal(open.status, 403);
  const openError = errorOf(await open.json());
  assert.deepEqual([openError.code, openError.param], ['admin_key_required', 'Authorization']);
  assert.match(openError.message, /this request has no API key/);

  const { service } = keyless;
  const admin = await service.keys.create({ name: 'operator', admin: true });
  t.after(() => service.keys.revoke(admin.key.id));
  const plain = await keyless.addKey();
  await service.audit.append([
    { stage: 'prompt', action: 'allow', apiKeyId: plain.key.id, policy: 'default' },
    { stage: 'prompt', action: 'block', apiKeyId: plain.key.id, policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } },
    { stage: 'image', action: 'flag', apiKeyId: plain.key.id, policy: 'default', classifier: 'nsfwjs:mobilenet_v2', category: 'Sexy', scores: { Sexy: 0.93 } },
  ]);

  const server = (await shared.startServer(t))!;
  const get = async (path: string, secret?: string) => {
    const response = await server.request(path, secret ? { headers: { authorization: `Bearer ${secret}` } } : {});
    return { status: response.status, body: (await response.json()) as any };
  };
  assert.equal((await get('/v1/audit')).status, 401);
  const refused = await get('/v1/audit', plain.secret);
  assert.equal(refused.status, 403);
  assert.equal(errorOf(refused.body).code, 'admin_key_required');
  assert.match(errorOf(refused.body).message, new RegExp(`${plain.key.prefix}… is no admin key.*keys create --name NAME --admin.*pixelpipe audit`));

  const all = await get('/v1/audit', admin.secret);
  assert.equal(all.status, 200);
  assert.deepEqual(all.body.data.map((entry: { action: string }) => entry.action), ['flag', 'block', 'allow']);
  assert.deepEqual(all.body.data[1], { id: all.body.data[1].id, createdAt: all.body.data[1].createdAt, stage: 'prompt', action: 'block', apiKeyId: plain.key.id, policy: 'strict', rule: 'terms.block', details: { matched: 'gore' } });
  assert.equal(all.body.next_cursor, null);

  const blocks = await get('/v1/audit?action=block', admin.secret);
  assert.deepEqual(blocks.body.data.map((entry: { rule: string }) => entry.rule), ['terms.block']);
  assert.deepEqual((await get(`/v1/audit?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, admin.secret)).body.data, []);
  const first = await get('/v1/audit?limit=2', admin.secret);
  assert.equal(first.body.data.length, 2);
  const rest = await get(`/v1/audit?limit=2&cursor=${first.body.next_cursor}`, admin.secret);
  assert.deepEqual([...first.body.data, ...rest.body.data].map((entry: { id: string }) => entry.id), all.body.data.map((entry: { id: string }) => entry.id));

  const document = (await (await server.request('/openapi.json')).json()) as { paths: Record<string, { get?: unknown }> };
  assert.ok(document.paths['/v1/audit']?.get);

  for (const [query, param] of [['action=deny', 'action'], ['since=yesterday', 'since'], ['limit=0', 'limit'], ['cursor=abc', 'cursor']]) {
    const bad = await get(`/v1/audit?${query}`, admin.secret);
    assert.deepEqual([bad.status, errorOf(bad.body).param], [400, param], query);
  }
});
