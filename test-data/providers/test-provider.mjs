// A provider for tests of the service, loaded with `providerModules`: models that succeed, wait, exit or kill their own process on command.
// Plain JavaScript, so both the sources (under tsx) and the built CLI can load it, and it never ships in dist/.

// A 2×2 PNG, enough for records and pixel hashes.
const png = Uint8Array.from(Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAACXBIWXMAAAPoAAAD6AG1e1JrAAAAEklEQVQImWM4ISd3Qk6OAUIBAB8mBBGFRCvEAAAAAElFTkSuQmCC', 'base64'));

const sleep = (milliseconds, signal) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, milliseconds);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * `test:ok` makes one image per `n`; `test:hold` waits (for `providerOptions.test.ms`, default 60 s) until aborted;
 * `test:crash` kills its own process with SIGKILL, as the kernel's out-of-memory killer would;
 * `test:exit` exits with code 3; `test:crash-once` crashes unless the file `providerOptions.test.marker` exists, which it creates;
 * `test:spin` keeps its process's event loop busy for `providerOptions.test.ms` (default 3 s).
 */
export default {
  name: 'test',
  imageModel(modelId) {
    return {
      provider: 'test',
      modelId,
      maxImagesPerCall: undefined,
      async doGenerate(options) {
        const settings = { prompt: options.prompt, width: 2, height: 2, seed: String(options.seed ?? 0) };
        const own = options.providerOptions?.test ?? {};
        switch (modelId) {
          case 'crash':
            process.kill(process.pid, 'SIGKILL');
            await sleep(60_000);
            break;
          case 'exit':
            process.exit(3);
            break;
          case 'crash-once': {
            const { existsSync, writeFileSync } = await import('node:fs');
            if (!existsSync(own.marker)) {
              writeFileSync(own.marker, String(process.pid));
              process.kill(process.pid, 'SIGKILL');
              await sleep(60_000);
            }
            break;
          }
          case 'spin': {
            // Busy for `ms` without yielding, as a long synchronous pass of the engine would be.
            const until = Date.now() + (own.ms ?? 3000);
            while (Date.now() < until);
            break;
          }
          case 'hold':
            options.onProgress?.({ imageIndex: 0, step: 1, steps: 2, elapsedMs: 0 });
            await sleep(own.ms ?? 60_000, options.abortSignal);
            break;
          case 'ok':
            break;
          default:
            throw Object.assign(new Error(`\`model\` test:${modelId} is not a test model; use test:ok, test:hold, test:spin, test:crash, test:crash-once or test:exit`), { name: 'InvalidArgumentError', isRetryable: false });
        }
        const n = options.n ?? 1;
        return {
          images: Array.from({ length: n }, () => ({ bytes: png, mediaType: 'image/png', settings })),
          warnings: [],
          response: { provider: 'test', modelId, timestamp: new Date(), timings: { total: 1 } },
        };
      },
    };
  },
};
