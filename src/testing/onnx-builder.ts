// Builds tiny ONNX models in memory for tests that need a dtype or shape no fixture has (e.g. fp16 I/O).
// The protobuf writing is the engine's own (engine/runtime/onnx-writer.ts); these names are the ones tests use.
export {
  buildOnnxModel,
  type ElementType,
  type OnnxValueInfo as ValueInfo,
  type OnnxNode as NodeInfo,
  type OnnxInitializer as Initializer,
} from '../engine/runtime/onnx-writer.js';
