// The events of each job, kept in the database so any process can follow a job another process runs.
import { EventEmitter } from 'node:events';
import type { Queryable } from '../database/database.js';
import type { JobEvent, JobEventType } from '../image-service-types.js';

interface EventRow {
  sequence: string | number;
  job_id: string;
  type: JobEventType;
  data: Record<string, unknown>;
  created_at: Date | string;
}

/** Event types after which a job's stream ends. */
export const finalEventTypes: ReadonlySet<JobEventType> = new Set(['done', 'error', 'cancelled']);

/**
 * Appends and reads job events. Readers in this process are woken at once when an event is
 * written here; events written by other processes are seen at the next poll.
 */
export class JobEventLog {
  readonly #database: Queryable;
  readonly #wakes = new EventEmitter().setMaxListeners(0);

  constructor(database: Queryable) {
    this.#database = database;
  }

  /** Adds an event through `queryable` (a transaction, to commit it with what it reports). */
  async append(jobId: string, type: JobEventType, data: Record<string, unknown> = {}, queryable: Queryable = this.#database): Promise<void> {
    await queryable.query('INSERT INTO pixelpipe.job_events (job_id, type, data) VALUES ($1, $2, $3)', [jobId, type, JSON.stringify(data)]);
    // Inside a transaction the row is not visible yet; a woken reader that finds nothing polls again.
    this.#wakes.emit(jobId);
  }

  /** Adds several jobs' events in one statement through `queryable` (a transaction, to commit them with what they report). */
  async appendMany(events: { jobId: string; type: JobEventType; data?: Record<string, unknown> }[], queryable: Queryable = this.#database): Promise<void> {
    if (events.length === 0) return;
    const rows = events.map(({ jobId, type, data = {} }) => ({ job_id: jobId, type, data }));
    // The rows go in the order given, so each job's sequence numbers follow its events' order.
    await queryable.query(
      'INSERT INTO pixelpipe.job_events (job_id, type, data) SELECT x.job_id, x.type, x.data FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(row, n), jsonb_to_record(e.row) AS x(job_id uuid, type text, data jsonb) ORDER BY e.n',
      [JSON.stringify(rows)],
    );
    for (const { jobId } of events) this.#wakes.emit(jobId);
  }

  /** Wakes this process's readers of a job, e.g. after a transaction that wrote its events committed. */
  wake(jobId: string): void {
    this.#wakes.emit(jobId);
  }

  /** The job's events after `after`, oldest first. */
  async read(jobId: string, after = 0): Promise<JobEvent[]> {
    const rows = await this.#database.query<EventRow>(
      'SELECT sequence, job_id, type, data, created_at FROM pixelpipe.job_events WHERE job_id = $1 AND sequence > $2 ORDER BY sequence',
      [jobId, after],
    );
    return rows.map((row) => ({ sequence: Number(row.sequence), jobId: row.job_id, type: row.type, at: new Date(row.created_at).toISOString(), data: row.data }));
  }

  /** Resolves after `milliseconds`, or sooner when an event of the job is written in this process or `signal` aborts. */
  waitForEvent(jobId: string, milliseconds: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakes.off(jobId, done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, milliseconds);
      this.#wakes.on(jobId, done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
