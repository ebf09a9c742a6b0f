// The client side of `bench/service-bench.ts`: submits jobs over HTTP with bounded concurrency, watches them finish, reads their times back.
import { Agent, request } from 'node:http';

// The client shares the machine's cores with the server it measures, so it is as light as Node allows:
// node:http on keep-alive sockets. `node --import tsx bench/http-client-ceiling.ts` compares the two
// against a server that answers with a constant: on the 2-core machine, 10,000 requests from 64
// clients went at 3,144/s (p99 35.3 ms) with `fetch` and 14,064/s (p99 15.7 ms) with node:http.
const agent = new Agent({ keepAlive: true });

/** One request on the client's keep-alive sockets: the status and the body as text. */
export function send(url: string, { method = 'GET', body, via = agent }: { method?: string; body?: string; via?: Agent } = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const outgoing = request(url, { method, agent: via, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, text: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** One `POST /v1/jobs` as the client saw it. */
export interface Submission {
  /** Order of submission, from 0. */
  index: number;
  /** The job's id; absent when the request failed. */
  id?: string;
  /** HTTP status, or 0 when no response came. */
  status: number;
  /** Wall-clock time the request was sent (epoch ms), comparable with the database's timestamps. */
  sentAt: number;
  /** From sending the request to having read the whole response, in ms. */
  latencyMs: number;
  /** Why it failed, when it did. */
  error?: string;
}

/** A finished job as read back from `GET /v1/jobs/:id`. */
export interface JobOutcome {
  id: string;
  state: string;
  attempts: number;
  /**
   * Database times (epoch ms): the start of the transaction that claimed the job (so waiting for the
   * per-queue claim lock is after it) and of the one that wrote its outcome (so its commit is not).
   */
  startedAt: number;
  finishedAt: number;
  /** Time the provider call took, from the record's `timings.total`. */
  generationMs: number;
}

/** What the completion watcher saw. */
export interface CompletionWatch {
  succeeded: number;
  failed: number;
  /** Largest `pixelpipe_queue_depth` seen while waiting. */
  maxQueueDepth: number;
  /** Scrapes of /metrics made while waiting: when sent (epoch ms) and how long each took. */
  scrapes: { sentAt: number; latencyMs: number }[];
}

/** Runs `task(0) … task(count - 1)`, at most `concurrency` at a time, in index order. */
export async function forEachLimited(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
}

/**
 * Opens `count` keep-alive connections by sending that many `GET /healthz` at once. Run just before
 * the submissions: a connection opened into a server that is already busy waited up to 4.8 s for its
 * first answer (against a median of 0.15 s), which measured connection set-up, not the job pipeline.
 */
export async function openConnections(url: string, count: number): Promise<void> {
  await forEachLimited(count, count, async () => void (await send(`${url}/healthz`)));
}

/**
 * Submits `count` jobs, `concurrency` in flight; each request's body comes from `body(index)`.
 * Without `rate`, each connection sends its next request when the last is answered (a closed loop:
 * the most the server takes). With `rate`, request i is due at i / rate seconds (an open loop, as
 * independent clients send), and its latency counts from when it was due, so time spent waiting for
 * a free connection behind a slow server is counted too.
 */
export async function submitJobs(url: string, { count, concurrency, body, firstIndex = 0, rate }: { count: number; concurrency: number; body: (index: number) => unknown; firstIndex?: number; rate?: number }): Promise<Submission[]> {
  const submissions: Submission[] = new Array(count);
  const begun = performance.now();
  const epoch = Date.now();
  await forEachLimited(count, concurrency, async (offset) => {
    const index = firstIndex + offset;
    const payload = JSON.stringify(body(index));
    const due = rate === undefined ? undefined : begun + (offset * 1000) / rate;
    if (due !== undefined && due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
    const started = due ?? performance.now();
    const sentAt = due === undefined ? Date.now() : epoch + (due - begun);
    try {
      const response = await send(`${url}/v1/jobs`, { method: 'POST', body: payload });
      const answer = JSON.parse(response.text) as { id?: string; error?: { message?: string } };
      const latencyMs = performance.now() - started;
      submissions[offset] = response.status === 202
        ? { index, id: answer.id, status: response.status, sentAt, latencyMs }
        : { index, status: response.status, sentAt, latencyMs, error: answer.error?.message ?? JSON.stringify(answer) };
    } catch (error) {
      submissions[offset] = { index, status: 0, sentAt, latencyMs: performance.now() - started, error: (error as Error).message };
    }
  });
  return submissions;
}

/** Jobs finished (by state) and the queue depth, from the service's Prometheus text. */
export function readMetrics(text: string): { succeeded: number; failed: number; queueDepth: number } {
  const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? 0);
  return {
    succeeded: value(/^pixelpipe_jobs_finished_total\{state="succeeded"\} (\d+)/m),
    failed: value(/^pixelpipe_jobs_finished_total\{state="failed"\} (\d+)/m),
    queueDepth: value(/^pixelpipe_queue_depth (\d+)/m),
  };
}

/**
 * Waits until `target` jobs have ended, reading /metrics every `intervalMs`.
 *
 * Why this way: the finished-jobs counter lives in the server's memory, so one scrape costs the
 * server one small count (the queue-depth gauge), whatever the number of jobs; polling each job
 * would cost a request per job per poll and become the load being measured. The per-job times the
 * report uses come from the database's own timestamps, read after the run, so this polling's
 * granularity only decides when the after-run memory snapshot is taken, not any latency figure.
 * It starts with the submissions, so the queue depth is seen while it builds up; `target` gives
 * undefined until the last submission is answered and the number of jobs made is known.
 * Gives up when nothing finishes for `stallMs`.
 */
export async function waitForFinished(url: string, { target, intervalMs = 250, stallMs = 120_000 }: { target: () => number | undefined; intervalMs?: number; stallMs?: number }): Promise<CompletionWatch> {
  const watch: CompletionWatch = { succeeded: 0, failed: 0, maxQueueDepth: 0, scrapes: [] };
  // One connection of its own, kept open between scrapes as a Prometheus scraper keeps one: a scrape's
  // latency is then the server's answer, not a connection set up behind the submissions' (see openConnections).
  const scraper = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    let lastProgress = Date.now();
    for (;;) {
      const [sentAt, started] = [Date.now(), performance.now()];
      const { text } = await send(`${url}/metrics`, { via: scraper });
      watch.scrapes.push({ sentAt, latencyMs: performance.now() - started });
      const metrics = readMetrics(text);
      watch.maxQueueDepth = Math.max(watch.maxQueueDepth, metrics.queueDepth);
      if (metrics.succeeded + metrics.failed > watch.succeeded + watch.failed) lastProgress = Date.now();
      [watch.succeeded, watch.failed] = [metrics.succeeded, metrics.failed];
      const wanted = target();
      if (wanted !== undefined && watch.succeeded + watch.failed >= wanted) return watch;
      if (Date.now() - lastProgress > stallMs) {
        throw new Error(`no job finished for ${stallMs / 1000} s: ${watch.succeeded} succeeded and ${watch.failed} failed of ${wanted ?? 'a number not known yet'}, queue depth ${metrics.queueDepth}`);
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  } finally {
    scraper.destroy();
  }
}

/** Reads every job back after the run: its state, attempts, database times and generation time. */
export async function readJobOutcomes(url: string, ids: string[], concurrency: number): Promise<JobOutcome[]> {
  const outcomes: JobOutcome[] = new Array(ids.length);
  await forEachLimited(ids.length, concurrency, async (index) => {
    const response = await send(`${url}/v1/jobs/${ids[index]}`);
    if (response.status !== 200) throw new Error(`GET /v1/jobs/${ids[index]} answered ${response.status}: ${response.text}`);
    const job = JSON.parse(response.text) as { id: string; state: string; attempts: number; startedAt?: string; finishedAt?: string; records: { timings: Record<string, number> }[] };
    const timings = job.records[0]?.timings ?? {};
    // `total` spans the whole provider call and already contains the other stages; sum them only when it is missing.
    const generationMs = timings.total ?? Object.values(timings).reduce((sum, milliseconds) => sum + milliseconds, 0);
    outcomes[index] = { id: job.id, state: job.state, attempts: job.attempts, startedAt: Date.parse(job.startedAt ?? ''), finishedAt: Date.parse(job.finishedAt ?? ''), generationMs };
  });
  return outcomes;
}

/**
 * Waits until no worker process of the server is still starting (GET /readyz's `workerProcesses`). Each one
 * loads the engine's code at start (seconds of CPU under tsx), which on a 2-core machine would be measured as
 * the queue's slowness if the burst began before they settled.
 */
export async function waitForWorkerProcesses(url: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ready = JSON.parse((await send(`${url}/readyz`)).text) as { workerProcesses?: { processes: { state: string }[] } };
    if (!ready.workerProcesses?.processes.some((process) => process.state === 'starting')) return;
    if (Date.now() > deadline) throw new Error(`the server's worker processes were still starting after ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
