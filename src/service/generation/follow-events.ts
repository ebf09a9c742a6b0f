// A job's event stream as clients follow it (SSE, the SDK): stored events first, then live ones, and the queue position while it waits.
import type { JobEvent } from '../image-service-types.js';
import type { JobQueue } from '../jobs/job-queue.js';
import { finalEventTypes, type JobEventLog } from './job-events.js';

/** Yields job `id`'s events after `after` until its final one (or `signal` aborts); a queued job also hears when its position changes. */
export async function* followJobEvents({ events, queue }: { events: JobEventLog; queue: Pick<JobQueue, 'get'> }, id: string, { after = 0, signal }: { after?: number; signal?: AbortSignal }): AsyncGenerator<JobEvent> {
  let last = after;
  let position: number | undefined;
  while (!signal?.aborted) {
    for (const event of await events.read(id, last)) {
      last = event.sequence;
      if (event.type === 'queued') position = (event.data.position as number | null) ?? undefined;
      yield event;
      if (finalEventTypes.has(event.type)) return;
    }
    const status = await queue.get(id);
    if (!status) return;
    if (status.state === 'queued' && status.position !== position) {
      position = status.position;
      yield { sequence: last, jobId: id, type: 'position', at: new Date().toISOString(), data: { position } };
    }
    // A job that ended without a final event (cancelled from outside, expired for good) still ends the stream.
    if (status.state === 'cancelled' || status.state === 'failed') {
      const again = await events.read(id, last);
      if (again.length > 0) continue;
      yield { sequence: last, jobId: id, type: status.state === 'failed' ? 'error' : 'cancelled', at: new Date().toISOString(), data: status.state === 'failed' ? { error: status.error } : {} };
      return;
    }
    await events.waitForEvent(id, 250, signal);
  }
}
