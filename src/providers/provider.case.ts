// The conformance suite every provider runs: the local engine and each hosted API keep the same contract.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import type { ImageModel } from '../spec/image-model.js';
import type { ImageModelResult } from '../spec/image-model-result.js';
import { AbortedError } from '../spec/errors/aborted-error.js';
import { isInvalidArgument } from '../testing/assertions.js';
import { testImage } from '../testing/mock-api-server.js';
import { detectImageMediaType, sha256Of } from './shared/image-data.js';

export interface ProviderUnderTest {
  model: ImageModel;
  /** Stops servers and releases sessions. */
  close(): Promise<void>;
}

export interface ProviderCase {
  /** Shown in test names, e.g. `openai:gpt-image-1`. */
  name: string;
  /** A fresh model for each test (hosted: pointed at a local server answering in the documented shape). */
  setup(): Promise<ProviderUnderTest>;
  /** A size the model makes exactly, for the edit test's input image. */
  size?: { width: number; height: number };
  /** The model edits an input image. */
  edits?: boolean;
}

const warningTypes = new Set(['unsupported-setting', 'adjusted-setting', 'other']);

/** Either the setting shows in the image's settings, or a warning names it: never silence. */
function honouredOrWarned(result: ImageModelResult, setting: string, honoured: boolean): void {
  const warned = result.warnings.some((warning) => warning.type !== 'other' && warning.setting === setting);
  assert.ok(honoured || warned, `\`${setting}\` was neither honoured nor warned about: ${JSON.stringify(result.warnings)}`);
}

export function providerConformance(providerCase: ProviderCase): void {
  const run = async <T>(body: (model: ImageModel) => Promise<T>): Promise<T> => {
    const { model, close } = await providerCase.setup();
    try {
      return await body(model);
    } finally {
      await close();
    }
  };
  const size: { width?: number; height?: number } = providerCase.size ?? {};

  describe(`provider conformance: ${providerCase.name}`, () => {
    test('makes n images whose bytes, media type, size and settings agree', async () => {
      await run(async (model) => {
        const result = await model.doGenerate({ prompt: 'a lighthouse at dusk', n: 2, ...size });
        assert.equal(result.images.length, 2);
        for (const image of result.images) {
          assert.ok(image.bytes.byteLength > 0);
          assert.equal(image.mediaType, detectImageMediaType(image.bytes), 'mediaType must be what the bytes are');
          const metadata = await sharp(image.bytes).metadata();
          assert.deepEqual([image.settings.width, image.settings.height], [metadata.width, metadata.height]);
          assert.equal(image.settings.prompt, 'a lighthouse at dusk');
          if (image.settings.seed !== undefined) assert.match(image.settings.seed, /^\d+$/);
        }
        // A routing model's result names the model that made the images; any other names itself.
        const made = `${result.response.provider}:${result.response.modelId}`;
        assert.equal(made, result.routing ? result.routing.chosen : `${model.provider}:${model.modelId}`);
        assert.ok(result.response.timestamp instanceof Date);
        for (const warning of result.warnings) assert.ok(warningTypes.has(warning.type), `unknown warning type ${warning.type}`);
        if (result.cost) assert.ok(result.cost.amountUsd >= 0 && /^\d{4}-\d{2}-\d{2}$/.test(result.cost.priceDate) && result.cost.source.length > 0);
      });
    });

    test('a setting the model cannot honour becomes a warning, never an error or silence', async () => {
      await run(async (model) => {
        const result = await model.doGenerate({ prompt: 'a red bicycle', n: 1, seed: 1234, negativePrompt: 'blurry', steps: 3, guidance: 2.5, sampler: 'euler', ...size });
        const [image] = result.images;
        assert.ok(image);
        honouredOrWarned(result, 'seed', image.settings.seed === '1234');
        honouredOrWarned(result, 'negativePrompt', image.settings.negativePrompt === 'blurry');
        honouredOrWarned(result, 'steps', image.settings.steps === 3);
        honouredOrWarned(result, 'guidance', image.settings.guidance === 2.5);
        honouredOrWarned(result, 'sampler', image.settings.sampler === 'euler');
      });
    });

    test('bad input is refused before any work, naming the field', async () => {
      await run(async (model) => {
        await assert.rejects(model.doGenerate({ prompt: 'a cat', n: 0 }), isInvalidArgument('n', /n/));
        await assert.rejects(model.doGenerate({ prompt: 'a cat', n: 1, width: -8, height: 64 }), isInvalidArgument('width', /width/));
        await assert.rejects(model.doGenerate({ prompt: 'a cat', n: 1, providerOptions: { [model.provider]: { noSuchOption: true } } }), (error: unknown) => {
          assert.ok((error as { argument?: string }).argument?.startsWith(`providerOptions.${model.provider}`), String(error));
          return true;
        });
      });
    });

    test('doCheck, where the model has it, refuses the same settings as doGenerate and passes good ones', async () => {
      await run(async (model) => {
        if (!model.doCheck) return;
        await assert.rejects(model.doCheck({ n: 0 }), isInvalidArgument('n', /n/));
        await assert.rejects(model.doCheck({ n: 1, width: -8, height: 64 }), isInvalidArgument('width', /width/));
        await assert.rejects(model.doCheck({ n: 1, prompt: ' ' }), isInvalidArgument('prompt', /prompt/));
        await assert.doesNotReject(model.doCheck({ n: 2, ...size }));
      });
    });

    test('an aborted signal ends the call with AbortedError', async () => {
      await run(async (model) => {
        await assert.rejects(model.doGenerate({ prompt: 'a cat', n: 1, abortSignal: AbortSignal.abort(), ...size }), (error: unknown) => AbortedError.isInstance(error));
      });
    });

    if (providerCase.edits) {
      test('edits an input image and records its hash', async () => {
        await run(async (model) => {
          const input = await testImage('png', size.width ?? 64, size.height ?? 64);
          const result = await model.doGenerate({ prompt: 'make it blue', n: 1, images: [input], strength: 0.6, ...size });
          const [image] = result.images;
          assert.ok(image);
          assert.notEqual(image.settings.operation, 'text-to-image');
          assert.equal(image.settings.edit?.image, sha256Of(input));
          honouredOrWarned(result, 'strength', image.settings.edit?.strength === 0.6);
        });
      });
    }
  });
}
