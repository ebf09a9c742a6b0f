// Converts a TensorFlow.js layers model (Keras topology in model.json + weight shards) into an ONNX
// graph, so upscalers published for TensorFlow.js (the @upscalerjs packages) run on ONNX Runtime.
// Covers the layers image-to-image CNNs such as idealo's RDN use; anything else fails naming the layer.
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { buildOnnxModel, type OnnxAttribute, type OnnxInitializer, type OnnxNode } from '../runtime/onnx-writer.js';

/** The parts of a TensorFlow.js `model.json` this converter reads. */
export interface LayersModelJson {
  format?: string;
  modelTopology: { model_config?: KerasModelConfig } & Partial<KerasModelConfig>;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[] }[];
}

interface KerasModelConfig {
  class_name: string;
  config: { name?: string; layers: KerasLayer[]; input_layers?: [string, number, number][]; output_layers?: [string, number, number][] };
}

interface KerasLayer {
  class_name: string;
  name?: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes?: [string, number, number, unknown?][][];
}

export interface ConvertedModel {
  /** ONNX bytes: input `image` [1, 3, H, W] RGB in [0, 1], output `upscaled` [1, 3, sH, sW] in [0, 1] (not clipped). */
  onnx: Uint8Array;
  scale: number;
  /**
   * Input pixels beyond its own that an output pixel depends on (the convolutions' reach, summed along
   * the longest path). Tiles that overlap by this much give the same pixels as the whole image.
   */
  receptiveMargin: number;
}

export interface ConvertOptions {
  /** The pixel range the Keras model was trained on: 255 (RDN in upscalerjs) or 1. */
  inputRange: 1 | 255;
  /** Label for errors, e.g. the model.json path. */
  label: string;
}

const supportedLayers = ['InputLayer', 'Conv2D', 'Activation', 'ReLU', 'Concatenate', 'Add', 'UpSampling2D'];
const activations: Record<string, string | undefined> = { linear: undefined, relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh' };

/** Splits the concatenated shards into named float32 tensors, in manifest order as tfjs lays them out. */
export function readWeights(manifest: LayersModelJson['weightsManifest'], data: Uint8Array, label: string): Map<string, { shape: number[]; values: Float32Array }> {
  const weights = new Map<string, { shape: number[]; values: Float32Array }>();
  let offset = 0;
  for (const spec of manifest.flatMap((group) => group.weights)) {
    if (spec.dtype !== 'float32' || spec.quantization) {
      throw new InvalidModelError({ model: label, file: label, message: `${label}: weight ${spec.name} is ${spec.quantization ? 'quantized' : spec.dtype}; only unquantized float32 weights are supported` });
    }
    const count = spec.shape.reduce((product, dim) => product * dim, 1);
    if (offset + count * 4 > data.byteLength) throw new InvalidModelError({ model: label, file: label, message: `${label}: the weight shards end at byte ${data.byteLength}, before weight ${spec.name} (needs ${offset + count * 4}); a shard is missing or truncated` });
    weights.set(spec.name, { shape: spec.shape, values: new Float32Array(data.buffer.slice(data.byteOffset + offset, data.byteOffset + offset + count * 4)) });
    offset += count * 4;
  }
  return weights;
}

/** Builds the ONNX graph, NCHW throughout; the Keras model is NHWC, so channel axes and kernels are transposed. */
export function convertLayersModel(model: LayersModelJson, weightData: Uint8Array, { inputRange, label }: ConvertOptions): ConvertedModel {
  const fail = (message: string) => new InvalidModelError({ model: label, file: label, message: `${label}: ${message}` });
  const topology = model.modelTopology.model_config ?? (model.modelTopology as KerasModelConfig);
  if (!topology?.config?.layers) throw fail('model.json has no Keras model_config with layers; only TensorFlow.js layers models are supported, not graph models');
  const weights = readWeights(model.weightsManifest, weightData, label);
  const weight = (name: string) => {
    const found = weights.get(name);
    if (!found) throw fail(`the weights manifest has no ${name}`);
    return found;
  };

  const nodes: OnnxNode[] = [];
  const initializers: OnnxInitializer[] = [];
  // Per Keras layer output: the ONNX value, the upscale factor so far, and the receptive margin in input pixels.
  const values = new Map<string, { name: string; scale: number; margin: number }>();
  const sequential = topology.class_name === 'Sequential';
  let previous: string | undefined;

  initializers.push({ name: 'input_range', type: 'float32', dims: [], values: [inputRange] });
  nodes.push({ opType: 'Mul', inputs: ['image', 'input_range'], outputs: ['image_scaled'] });
  const inputValue = { name: 'image_scaled', scale: 1, margin: 0 };

  for (const layer of topology.config.layers) {
    const name = layer.config.name ?? layer.name!;
    const inboundNames = sequential ? (previous ? [previous] : []) : (layer.inbound_nodes ?? []).flatMap((call, index) => {
      if (index > 0) throw fail(`layer "${name}" (${layer.class_name}) is called more than once; shared layers are not supported`);
      return call.map(([source]) => source);
    });
    const inbound = inboundNames.map((source) => {
      const value = values.get(source);
      if (!value) throw fail(`layer "${name}" reads "${source}", which no earlier layer produced`);
      return value;
    });
    // A Sequential model's first layer reads the model input.
    if (inbound.length === 0 && layer.class_name !== 'InputLayer') inbound.push(inputValue);
    const output = `${name}:out`;
    const margin = Math.max(0, ...inbound.map((value) => value.margin));
    const scale = inbound[0]?.scale ?? 1;
    previous = name;

    switch (layer.class_name) {
      case 'InputLayer':
        values.set(name, inputValue);
        continue;
      case 'Conv2D': {
        const { filters, kernel_size: kernel, strides = [1, 1], padding, data_format: format = 'channels_last', dilation_rate: dilation = [1, 1], groups = 1, activation = 'linear', use_bias: useBias = true } = layer.config as unknown as {
          filters: number; kernel_size: [number, number]; strides?: [number, number]; padding: string; data_format?: string; dilation_rate?: [number, number]; groups?: number; activation?: string; use_bias?: boolean;
        };
        if (format !== 'channels_last' || groups !== 1) throw fail(`layer "${name}" (Conv2D) has data_format ${format} and groups ${groups}; only channels_last with groups 1 is supported`);
        if (!(activation in activations)) throw fail(`layer "${name}" (Conv2D) has activation ${activation}; supported: ${Object.keys(activations).join(', ')}`);
        const input = inbound[0]!;
        const kernelWeight = weight(`${name}/kernel`);
        const [height, width, channels, outputs] = kernelWeight.shape as [number, number, number, number];
        if (outputs !== filters || height !== kernel[0] || width !== kernel[1]) throw fail(`layer "${name}" (Conv2D): kernel shape [${kernelWeight.shape.join(', ')}] does not match kernel_size ${kernel} and filters ${filters}`);
        // Keras HWIO → ONNX OIHW.
        const transposed = new Float32Array(kernelWeight.values.length);
        for (let y = 0; y < height; y++)
          for (let x = 0; x < width; x++)
            for (let c = 0; c < channels; c++)
              for (let o = 0; o < outputs; o++) transposed[((o * channels + c) * height + y) * width + x] = kernelWeight.values[((y * width + x) * channels + c) * outputs + o]!;
        initializers.push({ name: `${name}/kernel`, type: 'float32', dims: [outputs, channels, height, width], values: transposed });
        const convInputs = [input.name, `${name}/kernel`];
        if (useBias) {
          initializers.push({ name: `${name}/bias`, type: 'float32', dims: [outputs], values: weight(`${name}/bias`).values });
          convInputs.push(`${name}/bias`);
        }
        const reach = [((kernel[0] - 1) * dilation[0]) / 2, ((kernel[1] - 1) * dilation[1]) / 2];
        // `same` with stride 1 pads (k-1)·d in total, the extra pixel at the end like TensorFlow; SAME_UPPER does the same for strides.
        const paddingAttribute: Record<string, OnnxAttribute> =
          padding === 'valid'
            ? { pads: { ints: [0, 0, 0, 0] } }
            : strides.every((stride) => stride === 1)
              ? { pads: { ints: [Math.floor(reach[0]!), Math.floor(reach[1]!), Math.ceil(reach[0]!), Math.ceil(reach[1]!)] } }
              : { auto_pad: { string: 'SAME_UPPER' } };
        const activationOp = activations[activation];
        const convOutput = activationOp ? `${name}:conv` : output;
        nodes.push({ opType: 'Conv', name, inputs: convInputs, outputs: [convOutput], attributes: { kernel_shape: { ints: kernel }, strides: { ints: strides }, dilations: { ints: dilation }, ...paddingAttribute } });
        if (activationOp) nodes.push({ opType: activationOp, name: `${name}/${activation}`, inputs: [convOutput], outputs: [output] });
        values.set(name, { name: output, scale: input.scale, margin: input.margin + Math.ceil(Math.max(...reach) / input.scale) });
        continue;
      }
      case 'Activation':
      case 'ReLU': {
        const activation = layer.class_name === 'ReLU' ? 'relu' : String(layer.config.activation);
        if (layer.class_name === 'ReLU' && (layer.config.max_value != null || Number(layer.config.negative_slope ?? 0) !== 0 || Number(layer.config.threshold ?? 0) !== 0)) {
          throw fail(`layer "${name}" (ReLU) has max_value, negative_slope or threshold set; only a plain ReLU is supported`);
        }
        if (!(activation in activations)) throw fail(`layer "${name}" (Activation) is ${activation}; supported: ${Object.keys(activations).join(', ')}`);
        nodes.push({ opType: activations[activation] ?? 'Identity', name, inputs: [inbound[0]!.name], outputs: [output] });
        break;
      }
      case 'Concatenate': {
        const axis = Number(layer.config.axis ?? -1);
        if (axis !== -1 && axis !== 3) throw fail(`layer "${name}" (Concatenate) joins axis ${axis}; only the channel axis (3 or -1) is supported`);
        nodes.push({ opType: 'Concat', name, inputs: inbound.map((value) => value.name), outputs: [output], attributes: { axis: { int: 1 } } });
        break;
      }
      case 'Add':
        nodes.push({ opType: inbound.length === 2 ? 'Add' : 'Sum', name, inputs: inbound.map((value) => value.name), outputs: [output] });
        break;
      case 'UpSampling2D': {
        const { size = [2, 2], interpolation = 'nearest', data_format: format = 'channels_last' } = layer.config as { size?: [number, number]; interpolation?: string; data_format?: string };
        if (interpolation !== 'nearest' || format !== 'channels_last') throw fail(`layer "${name}" (UpSampling2D) uses ${interpolation} interpolation, ${format}; only nearest, channels_last is supported`);
        if (size[0] !== size[1]) throw fail(`layer "${name}" (UpSampling2D) scales height by ${size[0]} and width by ${size[1]}; only equal factors are supported`);
        // Keras repeats each pixel: out[i] = in[floor(i / s)], which is Resize nearest with asymmetric coordinates and floor.
        initializers.push({ name: `${name}/scales`, type: 'float32', dims: [4], values: [1, 1, size[0], size[1]] });
        nodes.push({ opType: 'Resize', name, inputs: [inbound[0]!.name, '', `${name}/scales`], outputs: [output], attributes: { mode: { string: 'nearest' }, coordinate_transformation_mode: { string: 'asymmetric' }, nearest_mode: { string: 'floor' } } });
        values.set(name, { name: output, scale: scale * size[0], margin });
        continue;
      }
      default:
        throw fail(`layer "${name}" is a ${layer.class_name}, which the Keras-to-ONNX converter does not support (supported: ${supportedLayers.join(', ')})`);
    }
    if (new Set(inbound.map((value) => value.scale)).size > 1) throw fail(`layer "${name}" (${layer.class_name}) joins tensors at different scales`);
    values.set(name, { name: output, scale, margin });
  }

  const outputLayer = sequential ? previous : topology.config.output_layers?.[0]?.[0];
  const result = outputLayer === undefined ? undefined : values.get(outputLayer);
  if (!result || (topology.config.output_layers?.length ?? 1) !== 1) throw fail('the model must have exactly one output layer');
  initializers.push({ name: 'output_range', type: 'float32', dims: [], values: [1 / inputRange] });
  nodes.push({ opType: 'Mul', inputs: [result.name, 'output_range'], outputs: ['upscaled'] });
  const onnx = buildOnnxModel({
    nodes,
    initializers,
    inputs: [{ name: 'image', type: 'float32', shape: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'upscaled', type: 'float32', shape: [1, 3, 'upscaled_height', 'upscaled_width'] }],
    graphName: topology.config.name ?? 'keras',
    producer: 'pixelpipe keras-to-onnx',
  });
  return { onnx, scale: result.scale, receptiveMargin: Math.ceil(result.margin) };
}
