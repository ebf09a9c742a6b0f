// LoRAs through the service: requests name LoRAs of the server's folder (or write <lora:NAME:SCALE> in the prompt),
// unknown names and hosted models are refused at submit, and records name what was merged. Real service on PGlite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startOpenAiTestServer } from '../testing/openai-test-server.js';
import { testData } from '../testing/paths.js';
import { createImageService } from './image-service.js';
import { createPixelpipe } from './pixelpipe.js';
import { reproduceRecord } from './reproduce-record.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-service-loras-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('LoRAs by name and by prompt syntax are merged and recorded; unknown names and hosted models are refused at submit', async () => {
  const loraDir = join(work, 'loras');
  mkdirSync(loraDir);
  const source = testData('fixtures', 'tiny-sd15-lora', 'tiny-sd15-lora.kohya.safetensors');
  copyFileSync(source, join(loraDir, 'tiny_style.safetensors'));
  const fileHash = createHash('sha256').update(readFileSync(source)).digest('hex');
  const { service, server, close } = await startOpenAiTestServer('pglite', 'loras', {
    settings: { loraDir, watermark: false },
    defaultModel: testData('fixtures', 'tiny-sd15'),
    // A configured hosted provider (never called: the request is refused at submit).
    pixelpipe: { providers: { openai: { apiKey: 'sk-test', baseURL: 'http://127.0.0.1:9' } } },
    isolation: 'in-process',
    pollingIntervalSeconds: 0.05,
    onNotice: () => undefined,
  });
  const post = async (body: unknown) => {
    const response = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  try {
    const listed = (await (await fetch(`${server.url}/v1/loras`)).json()) as { data: { name: string; sha256: string }[] };
    assert.deepEqual(listed.data.map(({ name }) => name), ['tiny_style']);
    assert.match(listed.data[0]!.sha256, new RegExp(fileHash));

    const base = { prompt: 'a red cube', width: 64, height: 64, steps: 1, seed: 3 };
    const plain = await service.waitForJob((await service.submit(base)).job.id);
    const byName = await service.waitForJob((await service.submit({ ...base, loras: [{ name: 'tiny_style', scale: 1 }] })).job.id);
    const bySyntax = await service.waitForJob((await service.submit({ ...base, prompt: 'a red <lora:tiny_style:1> cube' })).job.id);
    for (const job of [plain, byName, bySyntax]) assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
    const [plainRecord, nameRecord, syntaxRecord] = [plain, byName, bySyntax].map((job) => job.records[0]!);
    assert.deepEqual(nameRecord!.settings.loras?.map(({ name, scale, sha256 }) => ({ name, scale, sha256: sha256.replace(/^sha256:/, '') })), [{ name: 'tiny_style', scale: 1, sha256: fileHash }]);
    assert.notEqual(nameRecord!.pixelSha256, plainRecord!.pixelSha256, 'the LoRA changed the image');
    // The prompt's token became the same request: the same LoRA, the prompt the model read without it.
    assert.equal(syntaxRecord!.request.prompt, 'a red cube');
    assert.deepEqual(syntaxRecord!.request.loras, [{ name: 'tiny_style', scale: 1 }]);
    assert.equal(syntaxRecord!.pixelSha256, nameRecord!.pixelSha256);

    // Reproduction merges the same LoRA again and checks it is the same file.
    const pixelpipe = createPixelpipe({ cacheDir: join(work, 'models') });
    const loraPath = (name: string) => join(loraDir, `${name}.safetensors`);
    try {
      const again = await reproduceRecord(nameRecord!, { pixelpipe, storage: service.storage, model: testData('fixtures', 'tiny-sd15'), loraPath });
      assert.equal(again.matches, true);
      await assert.rejects(reproduceRecord(nameRecord!, { pixelpipe, storage: service.storage, model: testData('fixtures', 'tiny-sd15') }), { name: 'InvalidArgumentError', message: /used LoRAs \(tiny_style\); reproduce it where its LoRA folder is/ });
      // Another file under the same name (the same weights in diffusers' format): the hash says it is not the record's.
      copyFileSync(testData('fixtures', 'tiny-sd15-lora', 'pytorch_lora_weights.safetensors'), join(loraDir, 'tiny_style.safetensors'));
      await assert.rejects(reproduceRecord(nameRecord!, { pixelpipe, storage: service.storage, model: testData('fixtures', 'tiny-sd15'), loraPath }), { name: 'InvalidArgumentError', message: /LoRA tiny_style is not the file record .* used: its SHA-256 is/ });
    } finally {
      await pixelpipe.close();
    }

    const unknown = await post({ ...base, loras: [{ name: 'tiny_style' }, { name: 'no_such_lora' }] });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.error.param, 'loras.1.name');
    assert.match(unknown.body.error.message, /no_such_lora.*not in this server's LoRA folder: it has tiny_style/);
    const path = await post({ ...base, loras: [{ name: '../../etc/passwd' }] });
    assert.equal(path.status, 400, 'a path is no LoRA name');
    assert.match(path.body.error.param, /^loras\.0\.name$/);
    const hosted = await post({ ...base, model: 'openai:gpt-image-1', prompt: 'a cube <lora:tiny_style:0.5>' });
    assert.equal(hosted.status, 400, JSON.stringify(hosted.body));
    assert.equal(hosted.body.error.param, 'loras');
    assert.match(hosted.body.error.message, /apply to local models; "openai:gpt-image-1" is hosted/);
  } finally {
    await close();
  }
});

test('a request cannot make the server open files: ControlNet paths in providerOptions are refused at submit', async () => {
  const service = await createImageService({ settings: { dataDir: join(work, 'data-controls'), cacheDir: join(work, 'models') }, defaultModel: testData('fixtures', 'tiny-sd15'), isolation: 'in-process', workers: 0, onNotice: () => undefined });
  try {
    await assert.rejects(
      service.submit({ prompt: 'a red cube', providerOptions: { local: { controls: [{ model: '/etc', image: '/etc/passwd', type: 'canny' }] } } }),
      { name: 'InvalidArgumentError', message: /`providerOptions\.local\.controls` names ControlNet models and control images by path on the server, which a request may not do/ },
    );
  } finally {
    await service.close();
  }
});
