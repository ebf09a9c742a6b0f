// The fast decoder of `decoder: 'fast'`: loaded once per provider, sharing the previews' session when both name one file.
import { basename, resolve } from 'node:path';
import { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import type { RuntimeOptions } from '../../engine/runtime/onnx-model.js';
import { hashFiles } from '../../engine/runtime/weight-hash.js';
import type { LoadedFastDecoder } from './local-image-model.js';

export interface FastDecoderLoader {
  /** The decoder with its name and hash; loaded (and the file hashed) on the first call, again after a failed one. */
  load(): Promise<LoadedFastDecoder>;
  /** Releases the session this loader made itself; a shared preview session is the provider's to release. */
  release(): Promise<void>;
}

/**
 * `path`: the fast decoder's file. `preview`: the provider's preview decoder, whose session is reused when it is
 * the same file (a second session would hold the same weights twice). The record names the decoder by its file's
 * sha256, computed here once rather than for every image.
 */
export function fastDecoderLoader(path: string, preview: { path?: string; load?: () => Promise<PreviewDecoder> }, runtime: RuntimeOptions): FastDecoderLoader {
  const shared = preview.load !== undefined && preview.path !== undefined && resolve(preview.path) === resolve(path);
  let own: Promise<PreviewDecoder> | undefined;
  let loading: Promise<LoadedFastDecoder> | undefined;
  const session = () => (shared ? preview.load!() : (own ??= PreviewDecoder.load(path, runtime)));
  return {
    load() {
      loading ??= session()
        .then(async (decoder) => ({ decoder, name: basename(path), sha256: await hashFiles([path]) }))
        .catch((error: unknown) => {
          // A missing or broken file may be fixed without restarting: the next call tries again.
          loading = undefined;
          own = undefined;
          throw error;
        });
      return loading;
    },
    async release() {
      const made = own;
      own = undefined;
      loading = undefined;
      await made?.then((decoder) => decoder.release(), () => undefined);
    },
  };
}
