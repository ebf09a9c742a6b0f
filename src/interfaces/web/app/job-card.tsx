// One submitted job on the generate page: its queue position, live step previews with rate and ETA, cancel, and its images.
import { useEffect, useState } from 'preact/hooks';
import { api, followJob, type JobEvent } from './api.js';
import type { ImageRecord, JobView, StepEventData } from './api-types.js';
import { BlobImage } from './blob-image.js';
import type { SubmittedJob } from './generate.js';
import type { JobState } from './job-list.js';
import { Link } from './router.js';

interface Progress {
  state: JobView['state'];
  position?: number;
  step?: StepEventData;
  preview?: string;
  startedAt?: number;
  records: ImageRecord[];
  error?: string;
}

export function JobCard({ job, onSeed, onState }: { job: SubmittedJob; onSeed: (seed: string) => void; onState: (id: string, state: JobState) => void }) {
  const [progress, setProgress] = useState<Progress>({ state: 'queued', records: [] });
  const [cancelError, setCancelError] = useState<string | undefined>();

  useEffect(() => {
    const stop = new AbortController();
    const onEvent = ({ type, data }: JobEvent) => {
      setProgress((current) => {
        switch (type) {
          case 'queued':
          case 'position':
            return { ...current, state: 'queued', position: data.position as number };
          case 'running':
            return { ...current, state: 'running', position: undefined };
          case 'step': {
            const step = data as unknown as StepEventData;
            return { ...current, state: 'running', step, preview: step.preview ? `data:${step.preview.mediaType};base64,${step.preview.base64}` : current.preview };
          }
          case 'done':
            return { ...current, state: 'succeeded', records: (data.records as ImageRecord[]) ?? [] };
          case 'error':
            return { ...current, state: 'failed', error: (data.error as { message?: string } | undefined)?.message ?? 'the job failed' };
          case 'cancelled':
            return { ...current, state: 'cancelled' };
        }
      });
      if (type === 'done') {
        const seed = (data.records as ImageRecord[] | undefined)?.[0]?.seed;
        if (seed !== undefined) onSeed(seed);
      }
    };
    followJob(job.id, onEvent, stop.signal).catch((error: unknown) => {
      if (!stop.signal.aborted) setProgress((current) => ({ ...current, error: (error as Error).message }));
    });
    return () => stop.abort();
  }, [job.id]);

  useEffect(() => onState(job.id, { state: progress.state, position: progress.position }), [progress.state, progress.position]);

  const cancel = async () => {
    setCancelError(undefined);
    try {
      await api.cancel(job.id);
    } catch (error) {
      setCancelError((error as Error).message);
    }
  };

  const { step } = progress;
  const active = progress.state === 'queued' || progress.state === 'running';
  let detail = '';
  if (progress.state === 'queued') detail = progress.position ? `Queued, position ${progress.position}` : 'Queued';
  else if (progress.state === 'running' && step) {
    const rate = step.elapsedMs > 0 ? (step.step * 1000) / step.elapsedMs : 0;
    const remaining = (job.images - step.imageIndex - 1) * step.steps + (step.steps - step.step);
    const eta = rate > 0 ? Math.ceil(remaining / rate) : undefined;
    detail = `Image ${step.imageIndex + 1} of ${job.images}, step ${step.step} of ${step.steps} · ${rate.toFixed(1)} steps/s${eta !== undefined ? ` · about ${eta} s left` : ''}`;
  } else if (progress.state === 'running') detail = 'Running';
  else detail = { succeeded: 'Done', failed: 'Failed', cancelled: 'Cancelled' }[progress.state];

  return (
    <li class="job" data-state={progress.state} aria-label={`Job: ${job.prompt}`}>
      <p class="job-prompt">{job.prompt}</p>
      <p class="job-status" aria-live="polite">
        {detail}
      </p>
      {step && active ? (
        <progress max={step.steps * job.images} value={step.imageIndex * step.steps + step.step} aria-label="Progress" />
      ) : null}
      {progress.preview && active ? <img class="preview" src={progress.preview} alt={`Preview at step ${step?.step ?? 0}`} /> : null}
      {progress.error ? (
        <p role="alert" class="error">
          {progress.error}
        </p>
      ) : null}
      {cancelError ? (
        <p role="alert" class="error">
          {cancelError}
        </p>
      ) : null}
      {active ? (
        <button type="button" class="quiet" onClick={cancel}>
          Cancel
        </button>
      ) : null}
      {progress.records.length > 0 ? (
        <ul class="results">
          {progress.records.map((record) => (
            <li>
              <Link href={`/history/${record.id}`}>
                <BlobImage blobKey={record.blobKey} alt={`Result ${record.imageIndex + 1}: ${record.request.prompt} (seed ${record.seed ?? 'unknown'})`} width={record.width} height={record.height} />
              </Link>
            </li>
          ))}
        </ul>
      ) : null}
    </li>
  );
}
