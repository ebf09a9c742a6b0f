// Chooses the ONNX Runtime execution provider and says exactly what is missing when CUDA cannot run.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ExecutionProviderError } from '../../spec/errors/execution-provider-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export const executionProviderNames = ['cpu', 'cuda'] as const;
export type ExecutionProviderName = (typeof executionProviderNames)[number];

export function parseExecutionProvider(value: string): ExecutionProviderName {
  if ((executionProviderNames as readonly string[]).includes(value)) return value as ExecutionProviderName;
  throw new InvalidArgumentError({
    argument: 'executionProvider',
    value,
    message: `\`executionProvider\` must be one of ${executionProviderNames.join(', ')}, got ${JSON.stringify(value)}`,
  });
}

/** Folder holding onnxruntime-node's native libraries for this platform. */
export function nativeLibraryFolder(): string | undefined {
  const require = createRequire(import.meta.url);
  const packageRoot = dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = join(packageRoot, 'bin');
  if (!existsSync(bin)) return undefined;
  for (const napi of readdirSync(bin)) {
    const folder = join(bin, napi, process.platform, process.arch);
    if (existsSync(folder)) return folder;
  }
  return undefined;
}

/**
 * onnxruntime-node ships the CPU provider only; its install script fetches the CUDA provider
 * library, which is off by default (package.json allowScripts). Checking the file first turns
 * ONNX Runtime's generic load failure into an error that says what to install.
 */
export function checkExecutionProvider(name: ExecutionProviderName): void {
  if (name !== 'cuda') return;
  if (process.platform !== 'linux' && process.platform !== 'win32') {
    throw new ExecutionProviderError({ executionProvider: name, message: `the CUDA execution provider needs Linux or Windows x64; this is ${process.platform}-${process.arch}. Use executionProvider "cpu".` });
  }
  const folder = nativeLibraryFolder();
  const library = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
  if (!folder || !existsSync(join(folder, library))) {
    throw new ExecutionProviderError({
      executionProvider: name,
      message:
        `the CUDA execution provider is not installed: ${library} is missing from ${folder ?? 'onnxruntime-node/bin'}. ` +
        'onnxruntime-node downloads it in its install script, which pixelpipe leaves off by default: ' +
        'allow the script (npm install-scripts approve onnxruntime-node, or set "allowScripts": {"onnxruntime-node": true}) and run `npm rebuild onnxruntime-node`. ' +
        'It also needs the CUDA 12 runtime and cuDNN 9 libraries on the library path. Or use executionProvider "cpu".',
    });
  }
}

/** The provider list handed to InferenceSession.create: CUDA falls back to CPU for unsupported ops. */
export function sessionExecutionProviders(name: ExecutionProviderName): string[] {
  return name === 'cuda' ? ['cuda', 'cpu'] : ['cpu'];
}
