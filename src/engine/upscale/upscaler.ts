// An image upscaler on ONNX Runtime: one tile of RGB in [0, 1] in, the same tile `scale` times larger out.
// Takes the ONNX exports users download (Real-ESRGAN, 4x-UltraSharp) and the converted bundled models alike.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { OnnxModel, type RuntimeOptions } from '../runtime/onnx-model.js';

/** Planar RGB pixels, [1, 3, height, width] in row order. */
export interface PlanarImage {
  data: Float32Array;
  width: number;
  height: number;
}

export interface Upscaler {
  /** Names the weights in records and messages, e.g. `esrgan-slim-x2` or the ONNX file's name. */
  readonly name: string;
  readonly scale: number;
  /** `sha256:<hex>` of the weights as loaded (the ONNX file, or the bundled weight shards), for records. */
  readonly hash?: string;
  /** Input pixels beyond its own that an output pixel depends on, when the architecture says; tiles overlap at least this much. */
  readonly receptiveMargin?: number;
  /** Tile sides must be a multiple of this (models that pixel-unshuffle their input need 2 or 4); tiles are padded up to it. */
  readonly sizeMultiple: number;
  /** Upscales one tile; values are not clipped. */
  upscale(tile: PlanarImage): Promise<PlanarImage>;
  release(): Promise<void>;
}

const probeSide = 16;

export class OnnxUpscaler implements Upscaler {
  private constructor(
    private readonly model: OnnxModel,
    readonly name: string,
    readonly scale: number,
    readonly sizeMultiple: number,
    readonly hash?: string,
    readonly receptiveMargin?: number,
  ) {}

  /**
   * An ONNX upscaler file: one input [1, 3, H, W] RGB in [0, 1], one output [1, 3, sH, sW]. The scale is
   * found by a probe run on a 16×16 tile; a second probe on 15×15 tells whether odd sides work.
   */
  static async fromFile(path: string, options: RuntimeOptions = {}): Promise<OnnxUpscaler> {
    const model = await OnnxModel.load(path, 'upscaler', options);
    const name = basename(path);
    checkSignature(model, path);
    const probe = async (side: number) => {
      const output = await runModel(model, { data: new Float32Array(3 * side * side).fill(0.5), width: side, height: side });
      return output.width / side === output.height / side && Number.isInteger(output.width / side) ? output.width / side : undefined;
    };
    let scale: number | undefined;
    try {
      scale = await probe(probeSide);
    } catch (error) {
      throw new InvalidModelError({ model: path, file: path, message: `${path} failed a probe run on a ${probeSide}×${probeSide} RGB image, so it is not an image upscaler taking [1, 3, H, W]: ${(error as Error).message.split('\n')[0]}`, cause: error });
    }
    if (scale === undefined || scale < 1) throw new InvalidModelError({ model: path, file: path, message: `${path} does not scale a ${probeSide}×${probeSide} image by a whole factor, so it is not an image upscaler` });
    const oddWorks = await probe(probeSide - 1).then((odd) => odd === scale, () => false);
    const hash = `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;
    return new OnnxUpscaler(model, name, scale, oddWorks ? 1 : 8, hash);
  }

  /** A model built in memory, e.g. by the Keras converter, whose scale and margin are known. */
  static async fromBytes(bytes: Uint8Array, { name, scale, hash, receptiveMargin }: { name: string; scale: number; hash?: string; receptiveMargin?: number }, options: RuntimeOptions = {}): Promise<OnnxUpscaler> {
    const model = await OnnxModel.fromBytes(bytes, 'upscaler', name, options);
    checkSignature(model, name);
    return new OnnxUpscaler(model, name, scale, 1, hash, receptiveMargin);
  }

  upscale(tile: PlanarImage): Promise<PlanarImage> {
    return runModel(this.model, tile);
  }

  release(): Promise<void> {
    return this.model.release();
  }
}

function checkSignature(model: OnnxModel, label: string): void {
  const [input] = model.inputs.values();
  const fits = model.inputs.size === 1 && model.outputs.size >= 1 && input!.shape.length === 4 && (typeof input!.shape[1] !== 'number' || input!.shape[1] === 3);
  if (!fits) {
    const shapes = [...model.inputs.values()].map((info) => `${info.name} [${info.shape.join(', ')}]`).join(', ');
    throw new InvalidModelError({ model: label, file: label, message: `${label} takes ${shapes}; an upscaler takes one RGB image [1, 3, H, W]` });
  }
}

async function runModel(model: OnnxModel, { data, width, height }: PlanarImage): Promise<PlanarImage> {
  const [input] = model.inputs.keys();
  const outputs = await model.run({ [input!]: { data, dims: [1, 3, height, width] } });
  const [output] = Object.values(outputs);
  const dims = output!.dims ?? [];
  if (dims.length !== 4 || dims[1] !== 3) throw new InvalidModelError({ model: model.path, file: model.path, message: `${model.path} returned [${dims.join(', ')}]; an upscaler returns one RGB image [1, 3, sH, sW]` });
  return { data: output!, width: dims[3]!, height: dims[2]! };
}
