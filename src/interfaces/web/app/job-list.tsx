// The jobs this browser submitted, on the generate and edit pages: a queue panel (what runs, what waits and at which
// position) above one card per job. The cards follow the jobs' events and tell the panel their state.
import { useCallback, useState } from 'preact/hooks';
import type { JobView } from './api-types.js';
import type { SubmittedJob } from './generate.js';
import { JobCard } from './job-card.js';

/** What a card last knew of its job. */
export interface JobState {
  state: JobView['state'];
  position?: number;
}

export function JobList({ jobs, onSeed, empty }: { jobs: SubmittedJob[]; onSeed: (seed: string) => void; empty: string }) {
  const [states, setStates] = useState<Record<string, JobState>>({});
  const onState = useCallback((id: string, state: JobState) => setStates((current) => ({ ...current, [id]: state })), []);
  const running = jobs.filter((job) => states[job.id]?.state === 'running');
  const queued = jobs.filter((job) => (states[job.id]?.state ?? 'queued') === 'queued').sort((a, b) => (states[a.id]?.position ?? Infinity) - (states[b.id]?.position ?? Infinity));

  return (
    <section aria-labelledby="jobs-title" class="jobs">
      <h2 id="jobs-title">Jobs</h2>
      {jobs.length === 0 ? <p class="help">{empty}</p> : null}
      {jobs.length > 0 ? (
        <section aria-labelledby="queue-title" class="queue-panel">
          <h3 id="queue-title">Queue</h3>
          <p class="queue-summary" aria-live="polite">
            {running.length === 0 && queued.length === 0 ? 'Nothing of yours is running or waiting.' : `${running.length} running · ${queued.length} waiting`}
          </p>
          {queued.length > 0 ? (
            <ol class="queue-list" aria-label="Waiting, next first">
              {queued.map((job) => (
                <li key={job.id}>
                  {states[job.id]?.position ? `Position ${states[job.id]!.position}` : 'Queued'}: {job.prompt}
                </li>
              ))}
            </ol>
          ) : null}
        </section>
      ) : null}
      <ul class="job-list">
        {jobs.map((job) => (
          <JobCard key={job.id} job={job} onSeed={onSeed} onState={onState} />
        ))}
      </ul>
    </section>
  );
}
