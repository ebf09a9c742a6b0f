// Mapping OpenAI image fields to job requests and back: models, sizes, extensions, field names in errors, failed jobs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JobView } from '../../service/image-service-types.js';
import sharp from 'sharp';
import { readMask } from '../../engine/image/mask.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { HttpError } from './http-error.js';
import { jobFailure } from './openai-job-outcome.js';
import { inOpenAiTerms, openAiParam, parseSize, renameArgumentError, resolveModel, toJobRequest } from './openai-job-request.js';
import { editRequestSchema, generationRequestSchema, parseFields } from './openai-schemas.js';

function refusal(run: () => unknown): HttpError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof HttpError, `expected an HttpError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a refusal');
}

describe('OpenAI fields to a job request', () => {
  it('maps OpenAI model names to the openai provider and leaves other ids alone', () => {
    assert.equal(resolveModel('dall-e-3'), 'openai:dall-e-3');
    assert.equal(resolveModel('gpt-image-1'), 'openai:gpt-image-1');
    assert.equal(resolveModel('gpt-image-1.5'), 'openai:gpt-image-1.5');
    assert.equal(resolveModel('openai:gpt-image-1'), 'openai:gpt-image-1');
    assert.equal(resolveModel('local:sd-turbo'), 'local:sd-turbo');
    assert.equal(resolveModel('stabilityai/sd-turbo'), 'stabilityai/sd-turbo');
    assert.equal(resolveModel(null), undefined);
    assert.equal(resolveModel(undefined), undefined);
  });

  it('reads WxH sizes and leaves auto to the model', () => {
    assert.deepEqual(parseSize('512x768'), { width: 512, height: 768 });
    assert.deepEqual(parseSize('auto'), {});
    assert.deepEqual(parseSize(null), {});
  });

  it('builds a generation request with the extensions and OpenAI-only options under providerOptions.openai', () => {
    const fields = parseFields(generationRequestSchema, {
      prompt: 'a fox', n: 2, size: '64x96', response_format: 'url', quality: 'high', style: 'natural', user: 'u-1',
      seed: '18446744073709551615', negative_prompt: 'blur', steps: 4, guidance: 7.5, sampler: 'euler', decoder: 'fast', model: null, stream: false,
    });
    assert.deepEqual(toJobRequest(fields), {
      prompt: 'a fox', n: 2, width: 64, height: 96, seed: '18446744073709551615', negativePrompt: 'blur', steps: 4, guidance: 7.5, sampler: 'euler', decoder: 'fast',
      providerOptions: { openai: { quality: 'high', style: 'natural', user: 'u-1' } },
    });
  });

  it('builds an edit request with the stored images, the mask as alpha and strength', () => {
    const fields = parseFields(editRequestSchema, { prompt: 'a hat', n: '1', strength: '0.6', seed: '7', input_fidelity: 'high', decoder: 'full' });
    const key = (digit: string) => `sha256/00/00/${digit.repeat(64)}.png`;
    assert.deepEqual(toJobRequest(fields, { images: [key('a'), key('b')], mask: key('c') }), {
      prompt: 'a hat', n: 1, seed: '7', strength: 0.6, decoder: 'full',
      images: [{ blobKey: key('a') }, { blobKey: key('b') }], mask: { blobKey: key('c') }, maskConvention: 'alpha',
      providerOptions: { openai: { inputFidelity: 'high' } },
    });
  });
});

describe('the mask_convention extension', () => {
  const key = (digit: string) => `sha256/00/00/${digit.repeat(64)}.png`;

  it('passes mask_convention on with the mask and keeps alpha as the default', () => {
    const luminance = parseFields(editRequestSchema, { prompt: 'a hat', mask_convention: 'luminance' });
    assert.equal(toJobRequest(luminance, { images: [key('a')], mask: key('b') }).maskConvention, 'luminance');
    const unsaid = parseFields(editRequestSchema, { prompt: 'a hat' });
    assert.equal(toJobRequest(unsaid, { images: [key('a')], mask: key('b') }).maskConvention, 'alpha');
  });

  it('refuses another value naming mask_convention and both values it takes', () => {
    const error = refusal(() => parseFields(editRequestSchema, { prompt: 'x', mask_convention: 'inverted' }));
    assert.equal(error.body.error.param, 'mask_convention');
    assert.match(error.body.error.message, /^`mask_convention` must be `alpha` .* or `luminance` .*, got "inverted"$/);
  });

  it('refuses a decoder other than full or fast, naming both', () => {
    const error = refusal(() => parseFields(generationRequestSchema, { prompt: 'x', decoder: 'quick' }));
    assert.equal(error.body.error.param, 'decoder');
    assert.match(error.body.error.message, /^`decoder` must be `full` .* or `fast` .*, got "quick"$/);
  });

  it('names mask_convention, never maskConvention, in the engine\'s refusal of an opaque mask read as alpha', async () => {
    const opaque = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
    const engineError = await readMask(opaque, { width: 8, height: 8, convention: 'alpha', maxPixels: 64 }).then(
      () => assert.fail('an opaque mask read as alpha must be refused'),
      (error: unknown) => error,
    );
    assert.match((engineError as Error).message, /`maskConvention`/, 'the engine speaks in job request fields');
    const error = refusal(() => renameArgumentError(engineError));
    assert.equal(error.body.error.param, 'mask_convention');
    assert.match(error.body.error.message, /^`mask_convention` is 'alpha' but `mask` .* set `mask_convention` to 'luminance'/);
    assert.doesNotMatch(error.body.error.message, /maskConvention/);
    const failed = jobFailure({
      id: 'job-1', state: 'failed', priority: 0, createdAt: '', attempts: 1, maxAttempts: 1, records: [],
      request: { prompt: 'x', n: 1 }, error: { name: 'InvalidArgumentError', message: (engineError as Error).message },
    });
    assert.equal(failed.body.error.param, 'mask_convention');
    assert.doesNotMatch(failed.body.error.message, /maskConvention/);
  });

  it('renames only whole field names in backticks', () => {
    assert.equal(inOpenAiTerms('`negativePrompt` is too long; `maskConventionX` and maskConvention stay'), '`negative_prompt` is too long; `maskConventionX` and maskConvention stay');
    assert.equal(inOpenAiTerms('`constructor` stays'), '`constructor` stays');
  });
});

describe('refusals name the OpenAI field', () => {
  it('names unknown fields', () => {
    const error = refusal(() => parseFields(generationRequestSchema, { prompt: 'x', widht: 512 }));
    assert.equal(error.status, 400);
    assert.equal(error.body.error.param, 'widht');
    assert.match(error.body.error.message, /unknown field `widht`; remove it/);
  });

  it('names a missing prompt and a malformed size with its value', () => {
    assert.match(refusal(() => parseFields(generationRequestSchema, {})).body.error.message, /^`prompt` is missing/);
    const size = refusal(() => parseFields(generationRequestSchema, { prompt: 'x', size: 'large' }));
    assert.equal(size.body.error.param, 'size');
    assert.match(size.body.error.message, /WIDTHxHEIGHT.*got "large"/);
  });

  it('passes best_of, rank_by, rank_rubric and rank_decoder on as bestOf, rankBy, rankRubric and rankDecoder, from JSON and from a form', () => {
    const json = parseFields(generationRequestSchema, { prompt: 'x', n: 2, best_of: 4, rank_by: 'clip', rank_rubric: 'sharp focus', rank_decoder: 'fast' });
    assert.deepEqual(toJobRequest(json), { prompt: 'x', n: 2, bestOf: 4, rankBy: 'clip', rankRubric: 'sharp focus', rankDecoder: 'fast' });
    assert.equal(refusal(() => parseFields(generationRequestSchema, { prompt: 'x', rank_decoder: 'quick' })).body.error.param, 'rank_decoder');
    const form = parseFields(editRequestSchema, { prompt: 'x', best_of: '3', rank_by: 'aesthetic' });
    assert.deepEqual(toJobRequest(form, { images: ['k'] }), { prompt: 'x', bestOf: 3, rankBy: 'aesthetic', images: [{ blobKey: 'k' }] });
    assert.equal(refusal(() => parseFields(generationRequestSchema, { prompt: 'x', best_of: 0 })).body.error.param, 'best_of');
  });

  it('refuses streaming', () => {
    assert.equal(refusal(() => parseFields(generationRequestSchema, { prompt: 'x', stream: true })).body.error.param, 'stream');
    assert.equal(refusal(() => parseFields(editRequestSchema, { prompt: 'x', stream: 'true' })).body.error.param, 'stream');
  });

  it('turns job request arguments into OpenAI field names', () => {
    assert.equal(openAiParam('width'), 'size');
    assert.equal(openAiParam('negativePrompt'), 'negative_prompt');
    assert.equal(openAiParam('images.0.blobKey'), 'image');
    assert.equal(openAiParam('image[1]'), 'image');
    assert.equal(openAiParam('providerOptions.openai.outputFormat'), 'output_format');
    assert.equal(openAiParam('n'), 'n');
    assert.deepEqual(['bestOf', 'rankBy', 'rankRubric', 'rankDecoder'].map(openAiParam), ['best_of', 'rank_by', 'rank_rubric', 'rank_decoder']);
    assert.equal(inOpenAiTerms('`bestOf` must be at least `n` (2); `rankBy` is needed with `bestOf`'), '`best_of` must be at least `n` (2); `rank_by` is needed with `best_of`');
    const error = refusal(() => renameArgumentError(new InvalidArgumentError({ argument: 'height', value: 10, message: '`height` must be at least 64, got 10' })));
    assert.deepEqual(error.body.error, { message: '`height` must be at least 64, got 10', type: 'invalid_request_error', param: 'size', code: 'invalid_argument' });
  });
});

describe('a job that did not succeed', () => {
  const failed = (name: string, message: string, model?: string): JobView => ({
    id: 'job-1', state: 'failed', priority: 0, createdAt: '', attempts: 1, maxAttempts: 1, records: [],
    request: { prompt: 'x', n: 1, ...(model ? { model } : {}) }, error: { name, message },
  });

  it('answers with a status and code that fit the error', () => {
    const cases: [string, number, string][] = [
      ['ContentPolicyError', 400, 'content_policy_violation'],
      ['ProviderUnavailableError', 502, 'provider_unavailable'],
      ['TimeoutError', 504, 'timeout'],
      ['ExecutionProviderError', 500, 'job_failed'],
      ['Error', 500, 'job_failed'],
    ];
    for (const [name, status, code] of cases) {
      const error = jobFailure(failed(name, 'it went wrong'));
      assert.equal(error.status, status, name);
      assert.equal(error.body.error.code, code, name);
    }
  });

  it('names the field of a refused argument from the stored message', () => {
    const error = jobFailure(failed('InvalidArgumentError', '`width` must be a multiple of 8, got 500'));
    assert.equal(error.status, 400);
    assert.equal(error.body.error.param, 'size');
  });

  it('blames the model only when the client named it', () => {
    assert.equal(jobFailure(failed('InvalidModelError', 'no unet', 'local:broken')).status, 400);
    assert.equal(jobFailure(failed('InvalidModelError', 'no unet')).status, 500);
    assert.equal(jobFailure(failed('InvalidModelError', 'no unet', 'local:default'), 'local:default').status, 500, 'the service writes its default into the request');
  });

  it('never answers a cancelled or empty job as a success', () => {
    const cancelled = jobFailure({ ...failed('Error', ''), state: 'cancelled', error: undefined });
    assert.equal(cancelled.status, 409);
    assert.equal(cancelled.headers['x-should-retry'], 'false');
    assert.equal(jobFailure({ ...failed('Error', ''), state: 'succeeded', error: undefined }).status, 500);
  });
});
