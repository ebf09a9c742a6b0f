// Factory for ComfyUI image models: a server URL (no API key), and optionally a workflow template with its input mapping.
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import type { ApiWorkflow } from './comfyui-api.js';
import { defaultWorkflow, defaultWorkflowInputs } from './comfyui-default-workflow.js';
import { ComfyUIImageModel, readComfyUIError, type ComfyUIImageModelId } from './comfyui-image-model.js';
import { findInputs, parseWorkflow, workflowInputsSchema, type WorkflowInputs } from './comfyui-workflow.js';

export interface ComfyUIProviderSettings extends HostedProviderSettings {
  /** An API-format workflow ("Save (API Format)"), or the path of a JSON file holding one; pixelpipe's SDXL text-to-image graph when omitted. */
  workflow?: string | ApiWorkflow;
  /** Where each setting goes in `workflow`, as `nodeId.inputName` (e.g. `{ prompt: '6.text', seed: '3.seed' }`); found from the graph when omitted. */
  inputs?: WorkflowInputs;
}

export interface ComfyUIProvider {
  (modelId: ComfyUIImageModelId): ComfyUIImageModel;
  imageModel(modelId: ComfyUIImageModelId): ComfyUIImageModel;
}

export const comfyuiProviderInfo: HostedProviderInfo = {
  name: 'comfyui',
  // ComfyUI's server has no API key; a proxy in front of it can be given `headers`.
  apiKeyVariables: [],
  defaultBaseUrl: 'http://127.0.0.1:8188',
  exampleModels: ['sd_xl_base_1.0.safetensors', 'sd_xl_turbo_1.0_fp16.safetensors', 'v1-5-pruned-emaonly.safetensors'],
  documentation: 'https://docs.comfy.org/development/comfyui-server/comms_routes',
};

/** The template read once, when the provider is made, so a wrong path or mapping shows at once. */
function resolveTemplate(workflow: string | ApiWorkflow | undefined, inputs: WorkflowInputs | undefined): { workflow: ApiWorkflow; inputs: WorkflowInputs } {
  const mapping = workflowInputsSchema.safeParse(inputs ?? {});
  if (!mapping.success) throw new InvalidArgumentError({ argument: `inputs.${mapping.error.issues[0]!.path.join('.')}`, value: inputs, message: `\`inputs\` of the comfyui provider: ${mapping.error.issues[0]!.message}` });
  if (workflow === undefined) return { workflow: defaultWorkflow, inputs: { ...defaultWorkflowInputs, ...mapping.data } };
  let graph: unknown = workflow;
  if (typeof workflow === 'string') {
    try {
      graph = JSON.parse(readFileSync(workflow, 'utf8'));
    } catch (cause) {
      throw new InvalidArgumentError({ argument: 'workflow', value: workflow, cause, message: `\`workflow\` of the comfyui provider could not be read as JSON: ${(cause as Error).message}` });
    }
  }
  const parsed = parseWorkflow(graph, 'workflow');
  return { workflow: parsed, inputs: { ...findInputs(parsed), ...mapping.data } };
}

export function createComfyUI(settings: ComfyUIProviderSettings = {}): ComfyUIProvider {
  const { workflow, inputs } = settings;
  const { client, ...config } = createHostedClient(settings, { info: comfyuiProviderInfo, readError: readComfyUIError });
  const template = resolveTemplate(workflow, inputs);
  const imageModel = (modelId: ComfyUIImageModelId) => new ComfyUIImageModel(modelId, { client, ...config, template });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance talking to http://127.0.0.1:8188 (or PIXELPIPE_COMFYUI_BASE_URL). */
export const comfyui = createComfyUI();
