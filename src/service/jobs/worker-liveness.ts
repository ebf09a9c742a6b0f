// Workers announce themselves and beat a heartbeat, so an attempt whose worker died is found in seconds rather than at its expiry.
import { randomUUID } from 'node:crypto';
import type { Database } from '../database/database.js';
import { currentProcess, isProcessAlive } from '../process-identity.js';

/** An attempt still marked running whose worker is gone. */
export interface DeadAttempt {
  jobId: string;
  attempt: number;
  /** Why the worker counts as dead, for the job's error. */
  reason: string;
}

interface AttemptRow {
  job_id: string;
  attempt: number;
  worker_id: string | null;
  host: string | null;
  pid: number | null;
  registered: boolean;
  process_start: string | null;
  silent_ms: number | null;
}

// Workers of this process: alive by definition, whatever their rows say (a test may run several).
const workersHere = new Set<string>();

/** Settings of `WorkerLiveness`. */
export interface WorkerLivenessConfig {
  database: Database;
  /** pg-boss schema, to check that an attempt's job is still active with that attempt. */
  schema: string;
  queueName: string;
  /** A worker on another host whose heartbeat is older than this is dead, in milliseconds. */
  staleAfterMs: number;
}

/** One worker's row in `pixelpipe.workers`, and the search for attempts of workers that died. */
export class WorkerLiveness {
  /** This worker's id, written on each attempt it takes. */
  readonly id = randomUUID();
  readonly #config: WorkerLivenessConfig;
  readonly #me = currentProcess();

  constructor(config: WorkerLivenessConfig) {
    this.#config = config;
  }

  /** Where this worker runs, as attempts record it. */
  get identity(): { host: string; pid: number } {
    return { host: this.#me.host, pid: this.#me.pid };
  }

  /** Adds this worker's row; call before taking jobs. */
  async register(): Promise<void> {
    workersHere.add(this.id);
    await this.#config.database.query(
      `INSERT INTO pixelpipe.workers (id, host, pid, process_start, queue) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()`,
      [this.id, this.#me.host, this.#me.pid, this.#me.start ?? null, this.#config.queueName],
    );
  }

  /** Refreshes the heartbeat (and the row itself, if another process removed it as stale during a long pause). */
  async beat(): Promise<void> {
    const updated = await this.#config.database.query('UPDATE pixelpipe.workers SET heartbeat_at = now() WHERE id = $1 RETURNING id', [this.id]);
    if (updated.length === 0) await this.register();
  }

  /** Removes this worker's row; its attempts must be settled first. */
  async unregister(): Promise<void> {
    workersHere.delete(this.id);
    await this.#config.database.query('DELETE FROM pixelpipe.workers WHERE id = $1', [this.id]);
  }

  /**
   * Attempts of this queue still running for a worker that is gone: on this host, a process that
   * no longer runs (or is a zombie, or whose pid now belongs to another process); anywhere, a
   * worker without a row or whose heartbeat is older than `staleAfterMs`.
   */
  async deadAttempts(): Promise<DeadAttempt[]> {
    const { database, schema, queueName, staleAfterMs } = this.#config;
    const rows = await database.query<AttemptRow>(
      `SELECT a.job_id, a.attempt, a.worker_id, a.host, a.pid, w.id IS NOT NULL AS registered, w.process_start,
         (EXTRACT(epoch FROM now() - w.heartbeat_at) * 1000)::float8 AS silent_ms
       FROM pixelpipe.job_attempts a
       JOIN ${schema}.job j ON j.id = a.job_id AND j.name = $1 AND j.state = 'active' AND j.retry_count = a.attempt - 1
       LEFT JOIN pixelpipe.workers w ON w.id = a.worker_id
       WHERE a.outcome = 'running'`,
      [queueName],
    );
    const dead: DeadAttempt[] = [];
    for (const row of rows) {
      if (row.worker_id !== null && workersHere.has(row.worker_id)) continue;
      const where = `process ${row.pid ?? '?'} on ${row.host ?? 'an unknown host'}`;
      let reason: string | undefined;
      if (!row.registered) reason = `its worker (${where}) is gone`;
      else if (row.host === this.#me.host && row.pid !== null && !isProcessAlive({ pid: row.pid, start: row.process_start })) reason = `its worker (${where}) is no longer running`;
      else if ((row.silent_ms ?? 0) > staleAfterMs) reason = `its worker (${where}) sent no heartbeat for ${Math.round((row.silent_ms ?? 0) / 1000)} s`;
      if (reason) dead.push({ jobId: row.job_id, attempt: row.attempt, reason });
    }
    return dead;
  }

  /** Removes the rows of workers that are gone: no attempt of theirs is left running. */
  async forgetDeadWorkers(): Promise<void> {
    const { database, staleAfterMs } = this.#config;
    const rows = await database.query<{ id: string; host: string; pid: number; process_start: string | null; silent_ms: number }>(
      `SELECT id, host, pid, process_start, (EXTRACT(epoch FROM now() - heartbeat_at) * 1000)::float8 AS silent_ms FROM pixelpipe.workers WHERE id <> $1`,
      [this.id],
    );
    const gone = rows.filter((row) => !workersHere.has(row.id) && (row.silent_ms > staleAfterMs || (row.host === this.#me.host && !isProcessAlive({ pid: row.pid, start: row.process_start }))));
    if (gone.length > 0) await database.query('DELETE FROM pixelpipe.workers WHERE id = ANY($1::text[])', [gone.map((row) => row.id)]);
  }
}
