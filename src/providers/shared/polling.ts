// Polls a provider's job until it finishes; if the call is aborted meanwhile, cancels the job at the provider.
import type { CallContext } from './api-client.js';

export type PollState<T> = { done: true; value: T } | { done: false; step?: number; steps?: number };

export interface PollSettings<T> {
  context: CallContext;
  /** One status request. */
  check: () => Promise<PollState<T>>;
  intervalMs: number;
  sleep: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  /** Cancels the job at the provider; called once when the call is aborted or times out mid-poll. */
  cancel?: (context: CallContext) => Promise<unknown>;
  /** Told each status that is not done yet (queue position, progress). */
  onPending?: (state: PollState<T> & { done: false }) => void;
}

/** How long a cancel request may take once the call itself has been aborted. */
const cancelTimeoutMs = 10_000;

export async function pollUntilDone<T>({ context, check, intervalMs, sleep, cancel, onPending }: PollSettings<T>): Promise<T> {
  return cancelOnAbort(context, cancel, async () => {
    for (;;) {
      const state = await check();
      if (state.done) return state.value;
      onPending?.(state);
      await sleep(intervalMs, context.signal);
    }
  });
}

/** Runs `work`; when it fails because the call was aborted, asks the provider to cancel too (best effort). */
export async function cancelOnAbort<T>(context: CallContext, cancel: ((context: CallContext) => Promise<unknown>) | undefined, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (context.signal.aborted && cancel) {
      // The call's own signal has fired, so the cancel request gets a fresh, short one.
      await cancel({ ...context, signal: AbortSignal.timeout(cancelTimeoutMs) }).catch(() => undefined);
    }
    throw error;
  }
}
