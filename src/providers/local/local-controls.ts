// A call's ControlNets made ready: each ControlNet loaded (once per provider), its control image read, resized and preprocessed, and what the record says of it.
import type { ControlSettings } from '../../spec/image-model-result.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import type { ControlInput } from '../../engine/controlnet/control-conditioning.js';
import type { ControlNetModel } from '../../engine/controlnet/controlnet-model.js';
import { prepareControlImage } from '../../engine/controlnet/control-image.js';
import type { LocalControl } from './local-image-options.js';

export interface PreparedControls {
  inputs: ControlInput[];
  /** For the record and the PNG `parameters`, in the order given. */
  settings: ControlSettings[];
  warnings: ImageModelWarning[];
}

export async function prepareControls(controls: readonly LocalControl[], options: { width: number; height: number; maxInputPixels: number; loadControlNet: (path: string) => Promise<ControlNetModel> }): Promise<PreparedControls> {
  const { width, height, maxInputPixels, loadControlNet } = options;
  const prepared: PreparedControls = { inputs: [], settings: [], warnings: [] };
  for (const control of controls) {
    const net = await loadControlNet(control.model);
    const image = await prepareControlImage(control.image, {
      type: control.type, width, height, maxInputPixels,
      canny: { ...(control.low !== undefined ? { low: control.low } : {}), ...(control.high !== undefined ? { high: control.high } : {}) },
      scribble: control.threshold !== undefined ? { threshold: control.threshold } : {},
    });
    if (image.warning) prepared.warnings.push({ type: 'adjusted-setting', setting: 'controls', details: image.warning });
    prepared.inputs.push({ net, image: image.image, scale: control.scale, start: control.start, end: control.end });
    prepared.settings.push({
      model: net.name, sha256: net.sha256, type: control.type, scale: control.scale, start: control.start, end: control.end, image: `sha256:${image.sha256}`,
      ...(control.type === 'canny' ? { low: control.low ?? 100, high: control.high ?? 200 } : {}),
      ...(control.type === 'scribble' ? { threshold: control.threshold ?? 128 } : {}),
    });
  }
  return prepared;
}
