// A ComfyUI server behind the ImageModel contract: a workflow template filled with the call's settings, followed over
// the websocket (progress, previews) or, without one, by polling /history; results fetched from /view.
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { z } from 'zod';
import type { ImageModelWarning } from '../../spec/warning.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import type { CallContext } from '../shared/api-client.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type HostedImage, type PollingModelConfig, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { cancelOnAbort, pollUntilDone } from '../shared/polling.js';
import { parseAspectRatio } from '../shared/sizes.js';
import { historySchema, nodeErrorsSchema, promptQueuedSchema, promptRefusedSchema, queueSchema, type ApiWorkflow } from './comfyui-api.js';
import { comfyuiImageOptionsSchema, type ComfyUIImageOptions } from './comfyui-image-options.js';
import { ComfyUISocket, type ExecutionError } from './comfyui-socket.js';
import { findInputs, injectValues, parseWorkflow, readInput, type WorkflowInputs, type WorkflowSetting } from './comfyui-workflow.js';

/** The checkpoint file name, written to CheckpointLoaderSimple's `ckpt_name` (or the template's `model` input). */
export type ComfyUIImageModelId = 'sd_xl_base_1.0.safetensors' | 'sd_xl_turbo_1.0_fp16.safetensors' | 'v1-5-pruned-emaonly.safetensors' | (string & {});

/** pixelpipe's sampler names in ComfyUI's terms (comfy/samplers.py); ComfyUI has no PNDM. */
const samplerMap: Record<string, { sampler: string; scheduler?: string }> = {
  euler: { sampler: 'euler' },
  euler_a: { sampler: 'euler_ancestral' },
  ddim: { sampler: 'ddim' },
  dpmpp_2m: { sampler: 'dpmpp_2m' },
  dpmpp_2m_karras: { sampler: 'dpmpp_2m', scheduler: 'karras' },
  lcm: { sampler: 'lcm' },
  flowmatch_euler: { sampler: 'euler' },
};

/** ComfyUI's own sampler names (KSAMPLER_NAMES + ddim, uni_pc), passed through unchanged. */
const comfySamplers = new Set(['euler', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'heun', 'heunpp2', 'dpm_2', 'dpm_2_ancestral', 'lms', 'dpm_fast', 'dpm_adaptive', 'dpmpp_2s_ancestral', 'dpmpp_2s_ancestral_cfg_pp', 'dpmpp_sde', 'dpmpp_sde_gpu', 'dpmpp_2m', 'dpmpp_2m_cfg_pp', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'ddpm', 'lcm', 'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'gradient_estimation', 'er_sde', 'ddim', 'uni_pc', 'uni_pc_bh2']);

/** KSampler takes seeds up to 2^64 − 1, but a JSON number from JavaScript is exact only up to 2^53 − 1. */
const maxSeed = BigInt(Number.MAX_SAFE_INTEGER);

/** How long the websocket may take to open before the call falls back to polling. */
const socketOpenTimeoutMs = 10_000;

/** `node_errors` as one message naming the first failing node, and its input as the field. */
export function describeNodeErrors(value: unknown): { message: string; field: string } | undefined {
  const parsed = nodeErrorsSchema.safeParse(value);
  if (!parsed.success) return undefined;
  const [nodeId, node] = Object.entries(parsed.data)[0] ?? [];
  if (nodeId === undefined || node === undefined) return undefined;
  const first = node.errors?.[0];
  const input = first?.extra_info?.input_name;
  return { message: `node ${nodeId}${node.class_type ? ` (${node.class_type})` : ''}: ${[first?.message, first?.details].filter(Boolean).join(': ') || 'invalid'}`, field: input ? `${nodeId}.${input}` : nodeId };
}

/** `{error, node_errors}` (HTTP 400 from /prompt): the message and field name the failing node. */
export const readComfyUIError: ErrorReader = ({ body }) => {
  const refused = promptRefusedSchema.safeParse(body);
  if (!refused.success) return undefined;
  const nodes = describeNodeErrors(refused.data.node_errors);
  const error = refused.data.error;
  const said = typeof error === 'string' ? error : error?.message;
  return { message: [said, nodes?.message].filter(Boolean).join('; ') || undefined, field: nodes?.field };
};

export interface ComfyUIModelConfig extends PollingModelConfig {
  /** The provider's workflow and where each setting goes in it. */
  template: { workflow: ApiWorkflow; inputs: WorkflowInputs };
}

type Template = ComfyUIModelConfig['template'] & { argument: string };

type HistoryEntry = z.infer<typeof historySchema>[string];

export class ComfyUIImageModel extends HostedImageModel<ComfyUIImageOptions> {
  readonly provider = 'comfyui';
  /** One prompt per image (or one batch): no per-request limit. */
  readonly maxImagesPerCall = undefined;
  protected readonly optionsSchema = comfyuiImageOptionsSchema;
  protected readonly support: HostedSupport;

  constructor(
    modelId: string,
    protected override readonly config: ComfyUIModelConfig,
  ) {
    super(modelId, config);
    // What the provider's template has a place for; a call's own template is checked when it runs.
    const { inputs } = config.template;
    this.support = { negativePrompt: inputs.negativePrompt !== undefined, seed: inputs.seed !== undefined, steps: inputs.steps !== undefined, guidance: inputs.guidance !== undefined, sampler: inputs.sampler !== undefined, previews: true, maxSeed };
  }

  protected override cancelNote(): string {
    return '; the prompt was removed from the queue or interrupted at comfyui';
  }

  /** A call's own workflow must be in the API format. */
  protected override checkModelRules(_options: unknown, providerOptions: ComfyUIImageOptions): void {
    this.templateFor(providerOptions);
  }

  protected async generate(request: HostedRequest<ComfyUIImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, warnings } = request;
    const template = this.templateFor(providerOptions);
    const values = this.values(request, template);
    const batch = providerOptions.batch === true || request.n === 1;
    const images: HostedImage[] = [];
    const promptIds: string[] = [];
    let workflow: ApiWorkflow = template.workflow;
    for (let index = 0; index < (batch ? 1 : request.n); index += 1) {
      const seed = request.seed === undefined ? undefined : (request.seed + BigInt(index)) % (maxSeed + 1n);
      workflow = injectValues(template.workflow, template.inputs, { ...values, n: batch ? request.n : 1, ...(seed === undefined ? {} : { seed: Number(seed) }) }, template.argument);
      const run = await this.runPrompt(request, workflow, request.firstImageIndex + index);
      promptIds.push(run.promptId);
      // In a batch only the first image's noise is the seed's own; the rest continue its stream.
      images.push(...run.images.map((bytes, position) => ({ bytes, ...(seed !== undefined && template.inputs.seed && position === 0 ? { seed } : {}) })));
    }
    if (batch && request.n > 1 && template.inputs.seed) warnings.push({ type: 'adjusted-setting', setting: 'seed', details: `comfyui made the ${request.n} images as one batch from seed ${request.seed}; images after the first have no seed of their own` });
    // The record gets what the workflow ran with: the call's values, else the template's own.
    const ran = (setting: WorkflowSetting) => readInput(workflow, template.inputs[setting]);
    const steps = ran('steps');
    const guidance = ran('guidance');
    const sampler = options.sampler !== undefined && values.sampler !== undefined ? options.sampler : ran('sampler');
    return {
      images,
      requestId: promptIds.join(','),
      metadata: { promptIds, workflow },
      settings: {
        ...(typeof steps === 'number' ? { steps } : {}),
        ...(typeof guidance === 'number' ? { guidance } : {}),
        ...(typeof sampler === 'string' && template.inputs.sampler ? { sampler } : {}),
      },
    };
  }

  /** The call's own workflow when it gives one, else the provider's; targets found from the graph unless mapped. */
  private templateFor(providerOptions: ComfyUIImageOptions): Template {
    if (providerOptions.workflow === undefined) return { ...this.config.template, inputs: { ...this.config.template.inputs, ...providerOptions.inputs }, argument: 'providerOptions.comfyui.inputs' };
    const workflow = parseWorkflow(providerOptions.workflow, 'providerOptions.comfyui.workflow');
    return { workflow, inputs: { ...findInputs(workflow), ...providerOptions.inputs }, argument: 'providerOptions.comfyui.inputs' };
  }

  /** The values to write, with a warning for each setting the template has no place for. */
  private values(request: HostedRequest<ComfyUIImageOptions>, template: Template): Partial<Record<WorkflowSetting, string | number>> {
    const { options, providerOptions, warnings } = request;
    const { inputs } = template;
    const label = `comfyui:${this.modelId}`;
    for (const setting of ['negativePrompt', 'steps', 'guidance', 'sampler', 'seed'] as const) {
      if (options[setting] !== undefined && this.support[setting] && inputs[setting] === undefined) warnings.push({ type: 'unsupported-setting', setting, details: `the workflow given to ${label} has no input for ${setting}; it was ignored` });
    }
    if (inputs.model === undefined) warnings.push({ type: 'other', message: `the workflow has no CheckpointLoaderSimple (and \`inputs.model\` is not set), so the model id ${this.modelId} was not written into it` });
    let sampler: string | undefined;
    let scheduler = providerOptions.scheduler;
    if (options.sampler !== undefined) {
      const mapped = samplerMap[options.sampler] ?? (comfySamplers.has(options.sampler) ? { sampler: options.sampler } : undefined);
      if (mapped) {
        sampler = mapped.sampler;
        scheduler ??= mapped.scheduler;
      } else if (inputs.sampler !== undefined) warnings.push({ type: 'unsupported-setting', setting: 'sampler', details: `ComfyUI has no sampler like ${options.sampler}; the workflow's own sampler was used` });
    }
    if (scheduler !== undefined && inputs.scheduler === undefined) warnings.push({ type: 'other', message: `the workflow has no scheduler input, so scheduler ${scheduler} was not set` });
    return {
      prompt: options.prompt,
      negativePrompt: options.negativePrompt,
      steps: options.steps,
      guidance: options.guidance,
      sampler,
      scheduler,
      model: this.modelId,
      ...this.size(options, template, warnings),
    };
  }

  /** Width and height for the latent, multiples of 8; a ratio keeps the pixel count asked for (or the template's). */
  private size(options: HostedRequest<ComfyUIImageOptions>['options'], { workflow, inputs }: Template, warnings: ImageModelWarning[]): { width?: number; height?: number } {
    const asked = options.width !== undefined || options.height !== undefined || options.aspectRatio !== undefined;
    if (!asked) return {};
    if (inputs.width === undefined || inputs.height === undefined) {
      warnings.push({ type: 'unsupported-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `the workflow has no empty latent image to size; its own size was used` });
      return {};
    }
    const baseWidth = Number(readInput(workflow, inputs.width)) || 1024;
    const baseHeight = Number(readInput(workflow, inputs.height)) || 1024;
    let width = options.width ?? baseWidth;
    let height = options.height ?? baseHeight;
    if (options.aspectRatio !== undefined) {
      const ratio = parseAspectRatio(options.aspectRatio);
      const pixels = (options.width ?? baseWidth) * (options.height ?? baseHeight);
      width = Math.max(16, Math.round(Math.sqrt(pixels * ratio) / 8) * 8);
      height = Math.max(16, Math.round(width / ratio / 8) * 8);
      if (Math.abs(width / height / ratio - 1) > 0.01) warnings.push({ type: 'adjusted-setting', setting: 'aspectRatio', details: `ComfyUI's latent sizes are multiples of 8; ${options.aspectRatio} was sent as ${width}x${height}` });
      return { width, height };
    }
    const rounded = { width: Math.max(16, Math.round(width / 8) * 8), height: Math.max(16, Math.round(height / 8) * 8) };
    if (rounded.width !== width || rounded.height !== height) warnings.push({ type: 'adjusted-setting', setting: 'size', details: `ComfyUI's latent sizes are multiples of 8; ${width}x${height} was sent as ${rounded.width}x${rounded.height}` });
    return rounded;
  }

  /** Queues one prompt with the websocket already open, follows it to the end, and fetches its saved images. */
  private async runPrompt(request: HostedRequest<ComfyUIImageOptions>, workflow: ApiWorkflow, imageIndex: number): Promise<{ images: Uint8Array[]; promptId: string }> {
    const { context, options, warnings } = request;
    const { client } = this.config;
    const clientId = randomUUID();
    const socketUrl = `${client.config.baseURL.replace(/^http/, 'ws')}/ws?clientId=${clientId}`;
    const socket = await ComfyUISocket.open(socketUrl, client.config.headers(), context.signal, Math.min(socketOpenTimeoutMs, this.config.timeoutMs));
    if (!socket && (options.previews || options.onProgress) && !warnings.some((warning) => warning.type === 'other' && warning.message.startsWith('comfyui\'s websocket'))) {
      warnings.push({ type: 'other', message: `comfyui's websocket at ${socketUrl.replace(/\?.*/, '')} could not be opened; the result was polled from /history, without progress or previews` });
    }
    try {
      const { data: queued } = await client.request(context, { path: '/prompt', json: { prompt: workflow, client_id: clientId }, schema: promptQueuedSchema });
      const promptId = queued.prompt_id;
      const failed = describeNodeErrors(queued.node_errors);
      if (failed) {
        // Queued anyway (some outputs were valid): take it back before refusing.
        await client.request(context, { path: '/queue', json: { delete: [promptId] }, schema: z.unknown(), retry: false }).catch(() => undefined);
        throw new InvalidRequestError({ provider: this.provider, field: failed.field, message: `comfyui refused the workflow at \`${failed.field}\`: ${failed.message}` });
      }
      const state = { running: false };
      const history = await cancelOnAbort(context, (cancelContext) => this.cancel(cancelContext, promptId, state), async () => {
        if (socket) await this.follow(socket, promptId, state, request, imageIndex);
        return this.waitForHistory(context, promptId);
      });
      const saved = Object.keys(history.outputs).sort((a, b) => Number(a) - Number(b)).flatMap((nodeId) => history.outputs[nodeId]!.images ?? []);
      const outputs = saved.some((image) => image.type === 'output') ? saved.filter((image) => image.type === 'output') : saved;
      const images = await Promise.all(outputs.map(async (image) => (await client.download(context, client.url(`/view?${new URLSearchParams({ filename: image.filename, subfolder: image.subfolder, type: image.type })}`), { authenticated: true })).bytes));
      return { images, promptId };
    } finally {
      socket?.close();
    }
  }

  /** Reads the socket until the prompt ends; returns early if the socket closes (the caller then polls). */
  private async follow(socket: ComfyUISocket, promptId: string, state: { running: boolean }, request: HostedRequest<ComfyUIImageOptions>, imageIndex: number): Promise<void> {
    const { context, options } = request;
    let step = 0;
    let steps = Number(options.steps ?? 0);
    for (;;) {
      const event = await socket.next(context.signal);
      if (event.promptId !== undefined && event.promptId !== promptId) continue;
      const elapsedMs = () => Math.round(performance.now() - request.started);
      if (event.kind === 'closed' || event.kind === 'done') return;
      if (event.kind === 'start') state.running = true;
      else if (event.kind === 'progress') {
        state.running = true;
        ({ step, steps } = event);
        options.onProgress?.({ imageIndex, step, steps, elapsedMs: elapsedMs() });
      } else if (event.kind === 'preview' && options.previews) {
        const { width = 0, height = 0 } = await sharp(event.bytes).metadata();
        options.onProgress?.({ imageIndex, step, steps, elapsedMs: elapsedMs(), preview: { bytes: event.bytes, mediaType: event.mediaType, width, height, method: 'comfyui' } });
      } else if (event.kind === 'error') throw this.executionFailure(promptId, event.error);
      else if (event.kind === 'interrupted') throw new ProviderUnavailableError({ provider: this.provider, message: `comfyui interrupted prompt ${promptId} (POST /interrupt, or cancelled in its interface)` });
    }
  }

  /** GET /history/{id} until the prompt is there; a failed run's execution_error becomes the error. */
  private async waitForHistory(context: CallContext, promptId: string) {
    const entry = await pollUntilDone<HistoryEntry>({
      context,
      intervalMs: this.config.pollIntervalMs,
      sleep: this.config.sleep,
      check: async () => {
        const { data } = await this.config.client.request(context, { path: `/history/${encodeURIComponent(promptId)}`, schema: historySchema });
        const found = data[promptId];
        return found ? { done: true, value: found } : { done: false };
      },
    });
    if (entry.status?.status_str === 'error') {
      const reported = entry.status.messages?.find(([type]) => type === 'execution_error')?.[1];
      throw this.executionFailure(promptId, (reported ?? {}) as ExecutionError);
    }
    if (Object.keys(entry.outputs).length === 0) throw new InvalidResponseError({ provider: this.provider, message: `comfyui ran prompt ${promptId} but its history lists no outputs; the workflow needs a SaveImage node` });
    return entry;
  }

  private executionFailure(promptId: string, error: ExecutionError): ProviderUnavailableError {
    const where = error.node_id !== undefined ? ` at node ${error.node_id}${error.node_type ? ` (${error.node_type})` : ''}` : '';
    return new ProviderUnavailableError({ provider: this.provider, message: `comfyui failed running prompt ${promptId}${where}: ${[error.exception_type, error.exception_message].filter(Boolean).join(': ') || 'no details'}` });
  }

  /** Takes the prompt out of the queue, and interrupts it if it is the one running (checked, so another client's prompt is never stopped). */
  private async cancel(context: CallContext, promptId: string, state: { running: boolean }): Promise<void> {
    const { client } = this.config;
    await client.request(context, { path: '/queue', json: { delete: [promptId] }, schema: z.unknown(), retry: false });
    const running = state.running || (await client.request(context, { path: '/queue', schema: queueSchema, retry: false })).data.queue_running.some((item) => item[1] === promptId);
    if (running) await client.request(context, { path: '/interrupt', json: { prompt_id: promptId }, schema: z.unknown(), retry: false });
  }
}
