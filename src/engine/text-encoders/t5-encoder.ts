// T5 text encoder (SD3's text_encoder_3, FLUX's text_encoder_2): token ids in, per-token hidden states out.
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TextEmbeddings } from './clip-text-encoder.js';

export class T5TextEncoder {
  constructor(private readonly model: OnnxModel) {
    // Checked at load, so a wrong file in text_encoder_3/ fails before the first generation, not during it.
    model.input('input_ids');
    if (!model.outputs.has('last_hidden_state')) {
      throw new InvalidModelError({
        model: model.path,
        file: model.path,
        message: `${model.path} has no last_hidden_state output (outputs: ${[...model.outputs.keys()].join(', ')}); expected an Optimum export of T5EncoderModel`,
      });
    }
  }

  /**
   * Encodes a batch of token id rows (all the same length) in one session run. `input_ids` is cast to
   * whatever integer type the export declares (OnnxModel reads it from the session), as Optimum does.
   */
  async encode(idRows: readonly (readonly number[])[], onRun?: RunListener): Promise<TextEmbeddings> {
    const batch = idRows.length;
    const sequenceLength = idRows[0]!.length;
    const outputs = await this.model.run({ input_ids: { data: idRows.flat(), dims: [batch, sequenceLength] } }, onRun);
    const hiddenStates = outputs.last_hidden_state!;
    return { hiddenStates, batch, sequenceLength, hiddenSize: hiddenStates.length / (batch * sequenceLength) };
  }
}
