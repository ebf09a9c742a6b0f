// CLIP text encoders: token ids in, per-token hidden states out (the UNet's cross-attention context).
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';

export interface TextEmbeddings {
  /** Hidden states, [batch, sequence, hidden] flattened. */
  hiddenStates: Float32Array;
  batch: number;
  sequenceLength: number;
  hiddenSize: number;
}

/** What SDXL reads from each of its text encoders. */
export interface PenultimateEmbeddings extends TextEmbeddings {
  /** The projected pooled embedding (`text_embeds`, [batch, size]) where the encoder has a projection. */
  pooled?: Float32Array;
}

export class ClipTextEncoder {
  /** Index of the last `hidden_states.N` output (the number of layers), or -1 when the export has none. */
  private readonly lastHiddenLayer: number;

  constructor(private readonly model: OnnxModel) {
    const layers = [...model.outputs.keys()].map((name) => /^hidden_states\.(\d+)$/.exec(name)?.[1]).filter((index) => index !== undefined).map(Number);
    this.lastHiddenLayer = layers.length > 0 ? Math.max(...layers) : -1;
  }

  /** Encodes a batch of token id rows (all the same length) in one session run: the last layer's hidden states (SD 1.x/2.x). */
  async encode(idRows: readonly (readonly number[])[], onRun?: RunListener): Promise<TextEmbeddings> {
    const { outputs, batch, sequenceLength } = await this.run(idRows, onRun);
    const hiddenStates = outputs.last_hidden_state;
    if (!hiddenStates) throw new InvalidModelError({ model: this.model.path, file: this.model.path, message: `${this.model.path} has no last_hidden_state output` });
    return { hiddenStates, batch, sequenceLength, hiddenSize: hiddenStates.length / (batch * sequenceLength) };
  }

  /** The second-to-last layer's hidden states and the pooled projection, as SDXL's pipeline takes them (`hidden_states[-2]`, `text_embeds`). */
  async encodePenultimate(idRows: readonly (readonly number[])[], onRun?: RunListener): Promise<PenultimateEmbeddings> {
    if (this.lastHiddenLayer < 1) {
      throw new InvalidModelError({
        model: this.model.path,
        file: this.model.path,
        message: `${this.model.path} has no hidden_states.N outputs; SDXL needs the penultimate layer (export the text encoders with output_hidden_states, as Optimum does)`,
      });
    }
    const { outputs, batch, sequenceLength } = await this.run(idRows, onRun);
    const hiddenStates = outputs[`hidden_states.${this.lastHiddenLayer - 1}`]!;
    return { hiddenStates, batch, sequenceLength, hiddenSize: hiddenStates.length / (batch * sequenceLength), pooled: outputs.text_embeds };
  }

  private async run(idRows: readonly (readonly number[])[], onRun?: RunListener) {
    const batch = idRows.length;
    const sequenceLength = idRows[0]!.length;
    const outputs = await this.model.run({ input_ids: { data: idRows.flat(), dims: [batch, sequenceLength] } }, onRun);
    return { outputs, batch, sequenceLength };
  }
}
