// "Reproduce" on a record's page: runs the record's request again with its seed, as one image, through POST /v1/jobs,
// and says whether the model made the same pixels (`pixelSha256`, the hash before watermark and signature).
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, followJob } from './api.js';
import type { ImageRecord, JobSubmit } from './api-types.js';
import { Link } from './router.js';

type Status = { state: 'idle' } | { state: 'running'; detail: string } | { state: 'done'; record: ImageRecord } | { state: 'failed'; message: string };

/**
 * The record's own request, made into one image with the record's seed; best-of and webhooks are not repeated.
 * The decoder is the one the record says made its pixels: a best-of candidate ranked on fast decodes was either
 * decoded fast (a rejected one) or again by the full VAE (a chosen one), whatever the request asked.
 */
export function reproduceRequest(record: ImageRecord): JobSubmit {
  const { bestOf: _bestOf, rankBy: _rankBy, rankRubric: _rubric, rankDecoder: _rankDecoder, webhook: _webhook, decoder: _decoder, ...request } = record.request as JobSubmit & { rankRubric?: unknown; rankDecoder?: unknown; webhook?: unknown };
  const fast = (record.settings.decoder as { type?: string } | undefined)?.type === 'fast';
  return { ...request, n: 1, ...(record.seed === undefined ? {} : { seed: record.seed }), ...(fast ? { decoder: 'fast' as const } : {}), previews: false };
}

export function Reproduce({ record }: { record: ImageRecord }) {
  const [status, setStatus] = useState<Status>({ state: 'idle' });
  const stop = useRef<AbortController | undefined>(undefined);
  useEffect(() => () => stop.current?.abort(), []);

  const run = async () => {
    stop.current?.abort();
    const controller = (stop.current = new AbortController());
    setStatus({ state: 'running', detail: 'Submitting…' });
    try {
      const job = await api.submit(reproduceRequest(record));
      let made: ImageRecord | undefined;
      let failure: string | undefined;
      await followJob(
        job.id,
        ({ type, data }) => {
          if (type === 'queued' || type === 'position') setStatus({ state: 'running', detail: `Queued${data.position ? `, position ${data.position as number}` : ''}…` });
          else if (type === 'running') setStatus({ state: 'running', detail: 'Running…' });
          else if (type === 'done') made = (data.records as ImageRecord[] | undefined)?.[0];
          else if (type === 'error') failure = (data.error as { message?: string } | undefined)?.message ?? 'the job failed';
          else if (type === 'cancelled') failure = 'the job was cancelled';
        },
        controller.signal,
      );
      if (failure || !made) throw new Error(failure ?? 'the job ended without an image');
      // The event carries the job's view of its records; the record itself has every field.
      setStatus({ state: 'done', record: await api.record(made.id) });
    } catch (error) {
      if (!controller.signal.aborted) setStatus({ state: 'failed', message: (error as Error).message });
    }
  };

  let result = null;
  if (status.state === 'done') {
    const same = record.pixelSha256 !== undefined && status.record.pixelSha256 === record.pixelSha256;
    result = (
      <p class={same ? 'match' : 'error'}>
        {same
          ? 'Same pixels: the model made this image again, bit for bit.'
          : record.pixelSha256 === undefined
            ? 'This record has no pixel hash to compare with.'
            : `Different pixels.${record.provider !== 'local' ? ' Hosted models do not promise the same image for a seed.' : ' The model, its weights or the engine changed since.'}`}{' '}
        <Link href={`/history/${status.record.id}`}>Open the new image</Link>
      </p>
    );
  }
  return (
    <div class="reproduce">
      <button type="button" class="quiet" disabled={status.state === 'running'} onClick={run}>
        Reproduce
      </button>
      <div role="status" aria-live="polite">
        {status.state === 'running' ? <p class="help">{status.detail}</p> : null}
        {status.state === 'failed' ? <p class="error">Could not reproduce: {status.message}</p> : null}
        {result}
      </div>
    </div>
  );
}
