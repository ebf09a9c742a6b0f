// CLIP text encoder: token ids in, per-token hidden states out (the UNet's cross-attention context).
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';

export interface TextEmbeddings {
  /** last_hidden_state, [batch, sequence, hidden] flattened. */
  hiddenStates: Float32Array;
  batch: number;
  sequenceLength: number;
  hiddenSize: number;
}

export class ClipTextEncoder {
  constructor(private readonly model: OnnxModel) {}

  /** Encodes a batch of token id rows (all the same length) in one session run. */
  async encode(idRows: readonly (readonly number[])[], onRun?: RunListener): Promise<TextEmbeddings> {
    const batch = idRows.length;
    const sequenceLength = idRows[0]!.length;
    const ids = idRows.flat();
    const outputs = await this.model.run({ input_ids: { data: ids, dims: [batch, sequenceLength] } }, onRun);
    const hiddenStates = outputs.last_hidden_state;
    if (!hiddenStates) throw new Error(`${this.model.path} has no last_hidden_state output`);
    return { hiddenStates, batch, sequenceLength, hiddenSize: hiddenStates.length / (batch * sequenceLength) };
  }
}
