// A ComfyUI server: any checkpoint it has, through pixelpipe's SDXL workflow or a workflow template of your own.
export { comfyui, comfyuiProviderInfo, createComfyUI, type ComfyUIProvider, type ComfyUIProviderSettings } from './comfyui-provider.js';
export { ComfyUIImageModel, type ComfyUIImageModelId } from './comfyui-image-model.js';
export { comfyuiImageOptionsSchema, type ComfyUIImageOptions } from './comfyui-image-options.js';
export type { ApiWorkflow } from './comfyui-api.js';
export type { WorkflowInputs } from './comfyui-workflow.js';
