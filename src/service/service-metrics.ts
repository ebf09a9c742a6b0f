// The service's Prometheus metrics: queue depth, jobs and their latency, time per generation stage.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RunnerStatus } from './workers/generation-runner.js';

/** What the metrics read when scraped. */
export interface MetricSources {
  /** Jobs waiting for a worker, across all processes. */
  queueDepth(): Promise<number>;
  /** Jobs this process runs now. */
  running(): number;
  /** This process's worker processes, when it runs workers. */
  workers(): RunnerStatus | undefined;
}

const latencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900];

/** One registry per service, so two services in one process (tests) keep apart. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly submitted: Counter;
  readonly finished: Counter<'state'>;
  readonly jobLatency: Histogram<'state'>;
  readonly stageSeconds: Histogram<'stage'>;

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'pixelpipe_process_' });
    new Gauge({
      name: 'pixelpipe_queue_depth',
      help: 'Jobs waiting for a worker (all processes).',
      registers,
      async collect() {
        this.set(await sources.queueDepth());
      },
    });
    new Gauge({
      name: 'pixelpipe_jobs_running',
      help: 'Jobs running in this process.',
      registers,
      collect() {
        this.set(sources.running());
      },
    });
    new Gauge({
      name: 'pixelpipe_worker_processes',
      help: 'Worker processes of this server by state (starting, idle, busy, restarting after a crash, stopped).',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        for (const worker of sources.workers()?.processes ?? []) this.inc({ state: worker.state });
      },
    });
    let crashesSeen = 0;
    new Counter({
      name: 'pixelpipe_worker_process_crashes_total',
      help: 'Worker processes that died (killed, out of memory, crashed) and were started again.',
      registers,
      collect() {
        const crashes = sources.workers()?.crashes ?? 0;
        if (crashes > crashesSeen) this.inc(crashes - crashesSeen);
        crashesSeen = crashes;
      },
    });
    this.submitted = new Counter({ name: 'pixelpipe_jobs_submitted_total', help: 'Jobs accepted by this process.', registers });
    this.finished = new Counter({ name: 'pixelpipe_jobs_finished_total', help: 'Jobs that ended in this process, by final state.', labelNames: ['state'], registers });
    this.jobLatency = new Histogram({ name: 'pixelpipe_job_latency_seconds', help: 'From submission to the final state, queue wait included.', labelNames: ['state'], buckets: latencyBuckets, registers });
    this.stageSeconds = new Histogram({ name: 'pixelpipe_stage_seconds', help: 'Time per generation stage (text encoder, denoise, VAE; queue and download for hosted models).', labelNames: ['stage'], buckets: latencyBuckets, registers });
  }

  /** Counts a job that ended, with its latency from its (UUID v7) id's timestamp. */
  jobEnded(state: 'succeeded' | 'failed' | 'cancelled', submittedAtMs: number, timings: Record<string, number> = {}): void {
    this.finished.inc({ state });
    this.jobLatency.observe({ state }, Math.max(0, Date.now() - submittedAtMs) / 1000);
    for (const [stage, milliseconds] of Object.entries(timings)) {
      if (Number.isFinite(milliseconds)) this.stageSeconds.observe({ stage }, milliseconds / 1000);
    }
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
