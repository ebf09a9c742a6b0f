// The moderation audit log in `pixelpipe.audit_log`: every screening decision, with its time, key, job, rule or classifier, scores and action.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database, Queryable } from '../database/database.js';

/** Where in a generation a decision was made. */
export type AuditStage = 'prompt' | 'image' | 'provider';

/** What a decision can do; `off` when the policy was off and nothing was checked. */
export const auditActions = ['allow', 'flag', 'block', 'off'] as const;

export type AuditAction = (typeof auditActions)[number];

/** One decision to write. */
export interface AuditEntry {
  stage: AuditStage;
  action: AuditAction;
  apiKeyId?: string;
  jobId?: string;
  recordId?: string;
  /** The policy's name. */
  policy?: string;
  /** The policy rule that decided, e.g. `terms.block`, `categories.sexual`. */
  rule?: string;
  /** The classifier asked, e.g. `nsfwjs:mobilenet_v2`. */
  classifier?: string;
  category?: string;
  /** Scores (0 to 1) per category or class. */
  scores?: Record<string, number>;
  /** Anything else worth keeping: the matched text, a hosted provider's refusal, a classifier's failure. */
  details?: Record<string, unknown>;
}

/** A written decision. */
export interface AuditRecord extends AuditEntry {
  /** A decimal number; rising in the order rows were written. */
  id: string;
  createdAt: string;
}

/** Which entries `list` gives. */
export interface AuditFilter {
  /** Entries at or after this time. */
  since?: Date;
  action?: AuditAction;
  /** 1 to 1000; default 100. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page, newest first. */
export interface AuditPage {
  entries: AuditRecord[];
  /** Pass as `cursor` for the next page; absent on the last. */
  nextCursor?: string;
}

interface AuditRow {
  id: string;
  created_at: Date;
  api_key_id: string | null;
  job_id: string | null;
  record_id: string | null;
  stage: AuditStage;
  action: AuditAction;
  policy: string | null;
  rule: string | null;
  classifier: string | null;
  category: string | null;
  scores: Record<string, number> | null;
  details: Record<string, unknown> | null;
}

// Absent, not null, when unset.
function toRecord(row: AuditRow): AuditRecord {
  const record = {
    id: String(row.id),
    createdAt: row.created_at.toISOString(),
    stage: row.stage,
    action: row.action,
    apiKeyId: row.api_key_id, jobId: row.job_id, recordId: row.record_id,
    policy: row.policy, rule: row.rule, classifier: row.classifier, category: row.category, scores: row.scores, details: row.details,
  };
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== null)) as unknown as AuditRecord;
}

/** The audit log. Entries are written beside what they are about (in its transaction, where there is one) and never changed. */
export class AuditLog {
  readonly #database: Database;
  readonly #now: () => Date;

  constructor(database: Database, { now = () => new Date() }: { now?: () => Date } = {}) {
    this.#database = database;
    this.#now = now;
  }

  /** Writes the entries in one statement, on `queryable`: a transaction of the work they are about, else the database. */
  async append(entries: readonly AuditEntry[], queryable: Queryable = this.#database): Promise<AuditRecord[]> {
    if (entries.length === 0) return [];
    const rows = entries.map((entry) => ({
      api_key_id: entry.apiKeyId, job_id: entry.jobId, record_id: entry.recordId, stage: entry.stage, action: entry.action,
      policy: entry.policy, rule: entry.rule, classifier: entry.classifier, category: entry.category, scores: entry.scores, details: entry.details,
    }));
    const inserted = await queryable.query<AuditRow>(
      `INSERT INTO pixelpipe.audit_log (created_at, api_key_id, job_id, record_id, stage, action, policy, rule, classifier, category, scores, details)
       SELECT $2::timestamptz, x.api_key_id, x.job_id, x.record_id, x.stage, x.action, x.policy, x.rule, x.classifier, x.category, x.scores, x.details
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(row, n),
         jsonb_to_record(e.row) AS x(api_key_id uuid, job_id uuid, record_id uuid, stage text, action text, policy text, rule text, classifier text, category text, scores jsonb, details jsonb)
       ORDER BY e.n
       RETURNING *`,
      [JSON.stringify(rows), this.#now()],
    );
    return inserted.map(toRecord);
  }

  /** Entries newest first, filtered; `nextCursor` continues after the last one. */
  async list(filter: AuditFilter = {}): Promise<AuditPage> {
    const { since, action, limit = 100, cursor } = filter;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
      throw new InvalidArgumentError({ argument: 'limit', value: limit, message: `\`limit\` must be a whole number from 1 to 1000, got ${JSON.stringify(limit)}` });
    }
    if (since !== undefined && Number.isNaN(since.getTime())) {
      throw new InvalidArgumentError({ argument: 'since', value: since, message: '`since` must be a date (ISO 8601, e.g. 2026-11-21T00:00:00Z)' });
    }
    if (action !== undefined && !auditActions.includes(action as AuditAction)) {
      throw new InvalidArgumentError({ argument: 'action', value: action, message: `\`action\` must be one of ${auditActions.join(', ')}, got ${JSON.stringify(action)}` });
    }
    if (cursor !== undefined && !/^[1-9]\d{0,18}$/.test(cursor)) {
      throw new InvalidArgumentError({ argument: 'cursor', value: cursor, message: `\`cursor\` must be the nextCursor of a previous page (a whole number), got ${JSON.stringify(cursor)}` });
    }
    const conditions: string[] = [];
    const values: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    if (since !== undefined) add((p) => `created_at >= ${p}`, since.toISOString());
    if (action !== undefined) add((p) => `action = ${p}`, action);
    // Keyset paging on (created_at, id), read from the cursor's own row so no precision is lost.
    if (cursor !== undefined) add((p) => `(created_at, id) < (SELECT created_at, id FROM pixelpipe.audit_log WHERE id = ${p}::bigint)`, cursor);
    values.push(limit + 1);
    const rows = await this.#database.query<AuditRow>(
      `SELECT * FROM pixelpipe.audit_log ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const entries = rows.slice(0, limit).map(toRecord);
    return rows.length > limit ? { entries, nextCursor: entries.at(-1)!.id } : { entries };
  }
}
