// ComfyUI server (HTTP routes and websocket messages) shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/** One node of an API-format workflow ("Save (API Format)"): its class and its inputs, literal values or `[nodeId, outputIndex]` links. */
export const apiNodeSchema = z.object({
  class_type: z.string().min(1),
  inputs: z.record(z.string(), z.unknown()),
});

/** An API-format workflow: node id → node (https://docs.comfy.org/development/comfyui-server/comms_routes). */
export const apiWorkflowSchema = z.record(z.string(), apiNodeSchema);

export type ApiWorkflow = z.infer<typeof apiWorkflowSchema>;

/** A node's validation errors, as `/prompt` reports them in `node_errors` (ComfyUI's execution.py `validate_prompt`). */
const nodeErrorSchema = z.object({
  class_type: z.string().optional(),
  errors: z.array(z.object({ message: z.string().optional(), details: z.string().optional(), extra_info: z.object({ input_name: z.string().optional() }).passthrough().optional() })).optional(),
});

export const nodeErrorsSchema = z.record(z.string(), nodeErrorSchema);

/**
 * `POST /prompt {prompt, client_id}` → `{prompt_id, number, node_errors}`; an invalid workflow answers 400
 * `{error, node_errors}` (https://docs.comfy.org/development/comfyui-server/comms_routes, `post_prompt` in server.py).
 */
export const promptQueuedSchema = z.object({
  prompt_id: z.string().min(1),
  number: z.number().optional(),
  node_errors: z.unknown().optional(),
});

export const promptRefusedSchema = z.object({
  error: z.union([z.string(), z.object({ type: z.string().optional(), message: z.string().optional(), details: z.string().optional() })]).optional(),
  node_errors: z.unknown().optional(),
});

/** An image a node saved: `GET /view?filename=&subfolder=&type=` fetches it. */
export const savedImageSchema = z.object({ filename: z.string(), subfolder: z.string().default(''), type: z.string().default('output') });

export type SavedImage = z.infer<typeof savedImageSchema>;

/**
 * `GET /history/{prompt_id}` → `{}` until the prompt has run, then `{[prompt_id]: {outputs: {[nodeId]: {images}},
 * status: {status_str, completed, messages}}}` (same page; `messages` holds `['execution_error', {...}]` on failure).
 */
export const historySchema = z.record(
  z.string(),
  z.object({
    outputs: z.record(z.string(), z.object({ images: z.array(savedImageSchema).optional() }).passthrough()).default({}),
    status: z.object({ status_str: z.string().optional(), completed: z.boolean().optional(), messages: z.array(z.tuple([z.string(), z.unknown()])).optional() }).optional(),
  }),
);

/** `GET /queue` → `{queue_running: [[number, prompt_id, ...]], queue_pending: [...]}` (same page). */
export const queueSchema = z.object({
  queue_running: z.array(z.array(z.unknown())).default([]),
});

/**
 * Websocket text messages are `{type, data}` (https://docs.comfy.org/development/comfyui-server/comms_messages):
 * `execution_start {prompt_id}`, `progress {value, max, prompt_id, node}`, `executing {node, prompt_id}` (node
 * null: the prompt is done), `execution_success {prompt_id}`, `execution_error {prompt_id, node_id, node_type,
 * exception_message}`, `execution_interrupted {prompt_id, node_id, node_type}`, `status {status: {exec_info}}`.
 */
export const socketMessageSchema = z.object({ type: z.string(), data: z.record(z.string(), z.unknown()).default({}) });

export const progressDataSchema = z.object({ value: z.number(), max: z.number(), prompt_id: z.string().optional() });

export const executionErrorSchema = z.object({
  prompt_id: z.string().optional(),
  node_id: z.union([z.string(), z.number()]).optional(),
  node_type: z.string().optional(),
  exception_type: z.string().optional(),
  exception_message: z.string().optional(),
});

/** Binary websocket frames: a big-endian uint32 event type (1 = preview image), then for previews a uint32 format (1 JPEG, 2 PNG) and the image (server.py `send_image`). */
export const binaryPreviewImage = 1;
export const previewFormats: Record<number, string> = { 1: 'image/jpeg', 2: 'image/png' };
