// Workflow templates for ComfyUI: reading an API-format graph, finding the input each setting goes to, writing the call's values in.
import { z } from 'zod';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { apiWorkflowSchema, type ApiWorkflow } from './comfyui-api.js';

/** The settings a template can take, each written to one `nodeId.inputName`. */
export const workflowSettings = ['prompt', 'negativePrompt', 'seed', 'steps', 'guidance', 'sampler', 'scheduler', 'width', 'height', 'n', 'model'] as const;

export type WorkflowSetting = (typeof workflowSettings)[number];

/** Where each setting goes, e.g. `{ prompt: '6.text', seed: '3.seed' }`. */
export type WorkflowInputs = Partial<Record<WorkflowSetting, string>>;

/** `nodeId.inputName`; node ids may hold colons (subgraphs), the input name is what follows the last dot. */
const targetSchema = z.string().regex(/^.+\.[^.]+$/, 'must be `nodeId.inputName`, e.g. `6.text`');

export const workflowInputsSchema = z
  .object(Object.fromEntries(workflowSettings.map((setting) => [setting, targetSchema.optional()])) as Record<WorkflowSetting, z.ZodOptional<typeof targetSchema>>)
  .strict();

/** An API-format workflow from `value`; the editor's format (`nodes` and `links`) is refused with the way to export the right one. */
export function parseWorkflow(value: unknown, argument: string): ApiWorkflow {
  if (typeof value === 'object' && value !== null && Array.isArray((value as { nodes?: unknown }).nodes)) {
    throw new InvalidArgumentError({ argument, value: '<workflow>', message: `\`${argument}\` is in ComfyUI's editor format (it has \`nodes\` and \`links\`); export it with "Save (API Format)" instead` });
  }
  const parsed = apiWorkflowSchema.safeParse(value);
  if (!parsed.success || Object.keys(parsed.data).length === 0) {
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    throw new InvalidArgumentError({ argument, value: '<workflow>', message: `\`${argument}\` must be an API-format ComfyUI workflow, an object of nodes with \`class_type\` and \`inputs\`${issue ? ` (at \`${issue.path.join('.')}\`: ${issue.message})` : ''}` });
  }
  return parsed.data;
}

const byNodeId = (a: string, b: string) => Number(a) - Number(b) || a.localeCompare(b);

/** The node a `[nodeId, outputIndex]` link comes from. */
function linkedNode(workflow: ApiWorkflow, link: unknown): [string, ApiWorkflow[string]] | undefined {
  if (!Array.isArray(link) || link.length !== 2) return undefined;
  const id = String(link[0]);
  return workflow[id] ? [id, workflow[id]!] : undefined;
}

/**
 * Finds the targets in a graph without a mapping: the first KSampler (or KSamplerAdvanced) takes seed, steps,
 * cfg, sampler and scheduler; the CLIPTextEncode nodes wired to its positive and negative inputs take the
 * prompts; the empty latent wired to it takes the size and batch; the first CheckpointLoaderSimple the model.
 */
export function findInputs(workflow: ApiWorkflow): WorkflowInputs {
  const ids = Object.keys(workflow).sort(byNodeId);
  const found: WorkflowInputs = {};
  const samplerId = ids.find((id) => workflow[id]!.class_type === 'KSampler' || workflow[id]!.class_type === 'KSamplerAdvanced');
  if (samplerId) {
    const sampler = workflow[samplerId]!;
    const advanced = sampler.class_type === 'KSamplerAdvanced';
    Object.assign(found, { seed: `${samplerId}.${advanced ? 'noise_seed' : 'seed'}`, steps: `${samplerId}.steps`, guidance: `${samplerId}.cfg`, sampler: `${samplerId}.sampler_name`, scheduler: `${samplerId}.scheduler` });
    for (const [input, setting] of [['positive', 'prompt'], ['negative', 'negativePrompt']] as const) {
      const source = linkedNode(workflow, sampler.inputs[input]);
      if (source && source[1].class_type === 'CLIPTextEncode' && typeof source[1].inputs.text === 'string') found[setting] = `${source[0]}.text`;
    }
    const latent = linkedNode(workflow, sampler.inputs.latent_image);
    if (latent && /^Empty.*LatentImage$/.test(latent[1].class_type)) Object.assign(found, { width: `${latent[0]}.width`, height: `${latent[0]}.height`, n: `${latent[0]}.batch_size` });
  }
  const checkpointId = ids.find((id) => workflow[id]!.class_type === 'CheckpointLoaderSimple');
  if (checkpointId) found.model = `${checkpointId}.ckpt_name`;
  return found;
}

/** The current value at a target, when the target is a literal input. */
export function readInput(workflow: ApiWorkflow, target: string | undefined): unknown {
  if (target === undefined) return undefined;
  const dot = target.lastIndexOf('.');
  const value = workflow[target.slice(0, dot)]?.inputs[target.slice(dot + 1)];
  return Array.isArray(value) ? undefined : value;
}

/**
 * A copy of `workflow` with each given value written to its target. A target naming a missing node, or an
 * input wired to another node's output, is refused naming the setting (`argument.setting`).
 */
export function injectValues(workflow: ApiWorkflow, inputs: WorkflowInputs, values: Partial<Record<WorkflowSetting, string | number>>, argument: string): ApiWorkflow {
  const copy = structuredClone(workflow);
  for (const setting of workflowSettings) {
    const value = values[setting];
    const target = inputs[setting];
    if (value === undefined || target === undefined) continue;
    const dot = target.lastIndexOf('.');
    const [nodeId, input] = [target.slice(0, dot), target.slice(dot + 1)];
    const node = copy[nodeId];
    if (!node) throw new InvalidArgumentError({ argument: `${argument}.${setting}`, value: target, message: `\`${argument}.${setting}\` points at node ${nodeId}, which the workflow does not have (it has ${Object.keys(copy).sort(byNodeId).join(', ')})` });
    if (Array.isArray(node.inputs[input])) throw new InvalidArgumentError({ argument: `${argument}.${setting}`, value: target, message: `\`${argument}.${setting}\` points at ${target}, which is wired to node ${String((node.inputs[input] as unknown[])[0])}; point it at a literal input instead` });
    node.inputs[input] = value;
  }
  return copy;
}
