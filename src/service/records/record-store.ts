// Image records in the service database: written once per job image, read one by one, by job, or as filtered pages.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Queryable } from '../database/database.js';
import type { ImageRecord, RecordFilter, RecordPage } from '../image-service-types.js';

/**
 * A record before it is stored: everything but the time the database gives it. The id is given when
 * the image carries it (signed into its manifest, watermarked into its pixels); else the database makes one.
 */
export type RecordDraft = Omit<ImageRecord, 'id' | 'createdAt'> & { id?: string };

interface RecordRow {
  id: string;
  job_id: string | null;
  image_index: number;
  parent_id: string | null;
  api_key_id: string | null;
  created_at: Date | string;
  request: ImageRecord['request'];
  settings: ImageRecord['settings'];
  provider: string;
  model_id: string;
  model_hash: string | null;
  seed: string | null;
  revised_prompt: string | null;
  warnings: ImageRecord['warnings'];
  timings: ImageRecord['timings'];
  cost: ImageRecord['cost'] | null;
  blob_key: string;
  sha256: string;
  pixel_sha256: string | null;
  media_type: string;
  width: number;
  height: number;
  provenance: ImageRecord['provenance'] | null;
  ranking: ImageRecord['ranking'] | null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function toRecord(row: RecordRow): ImageRecord {
  const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
  const record: ImageRecord = {
    id: row.id,
    jobId: optional(row.job_id),
    imageIndex: row.image_index,
    parentId: optional(row.parent_id),
    apiKeyId: optional(row.api_key_id),
    createdAt: new Date(row.created_at).toISOString(),
    request: row.request,
    settings: row.settings,
    provider: row.provider,
    modelId: row.model_id,
    modelHash: optional(row.model_hash),
    seed: optional(row.seed),
    revisedPrompt: optional(row.revised_prompt),
    warnings: row.warnings,
    timings: row.timings,
    cost: optional(row.cost),
    blobKey: row.blob_key,
    sha256: row.sha256,
    pixelSha256: optional(row.pixel_sha256),
    mediaType: row.media_type,
    width: row.width,
    height: row.height,
    provenance: optional(row.provenance),
    ranking: optional(row.ranking),
  };
  // Absent, not undefined-valued, so records compare and serialise cleanly.
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined)) as ImageRecord;
}

/** Reads and writes `pixelpipe.records`. */
export class RecordStore {
  readonly #database: Queryable;

  constructor(database: Queryable) {
    this.#database = database;
  }

  /**
   * Stores jobs' records through `queryable` (pass the transaction that completes the jobs), in one
   * statement. A record already stored for the same job and image index is kept, not doubled: a
   * retried job writes each image once. Gives back the jobs' records, by job and in image order.
   */
  async insert(queryable: Queryable, drafts: RecordDraft[]): Promise<ImageRecord[]> {
    // Absent keys, not nulls: jsonb_to_record turns a JSON null into a jsonb null, not SQL NULL.
    const rows = drafts.map((draft) =>
      Object.fromEntries(
        Object.entries({
          id: draft.id, job_id: draft.jobId, image_index: draft.imageIndex, parent_id: draft.parentId, api_key_id: draft.apiKeyId,
          request: draft.request, settings: draft.settings, provider: draft.provider, model_id: draft.modelId, model_hash: draft.modelHash,
          seed: draft.seed, revised_prompt: draft.revisedPrompt, warnings: draft.warnings, timings: draft.timings, cost: draft.cost,
          blob_key: draft.blobKey, sha256: draft.sha256, pixel_sha256: draft.pixelSha256, media_type: draft.mediaType, width: draft.width, height: draft.height,
          provenance: draft.provenance, watermark: draft.provenance?.watermark, ranking: draft.ranking,
        }).filter(([, value]) => value !== undefined && value !== null),
      ),
    );
    const inserted = await queryable.query<RecordRow>(
      `INSERT INTO pixelpipe.records (id, job_id, image_index, parent_id, api_key_id, request, settings, provider, model_id, model_hash, seed, revised_prompt, warnings, timings, cost, blob_key, sha256, pixel_sha256, media_type, width, height, provenance, watermark, ranking)
       SELECT coalesce(x.id, gen_random_uuid()), x.job_id, x.image_index, x.parent_id, x.api_key_id, x.request, coalesce(x.settings, '{}'), x.provider, x.model_id, x.model_hash, x.seed, x.revised_prompt, coalesce(x.warnings, '[]'), coalesce(x.timings, '{}'), x.cost, x.blob_key, x.sha256, x.pixel_sha256, x.media_type, x.width, x.height, x.provenance, x.watermark, x.ranking
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(row, n),
         jsonb_to_record(e.row) AS x(id uuid, job_id uuid, image_index integer, parent_id uuid, api_key_id uuid, request jsonb, settings jsonb, provider text, model_id text, model_hash text, seed text, revised_prompt text, warnings jsonb, timings jsonb, cost jsonb, blob_key text, sha256 text, pixel_sha256 text, media_type text, width integer, height integer, provenance jsonb, watermark text, ranking jsonb)
       ORDER BY e.n
       ON CONFLICT (job_id, image_index) DO NOTHING
       RETURNING *`,
      [JSON.stringify(rows)],
    );
    let records = inserted;
    // A record already there (an earlier attempt wrote it) comes back from the table, not the insert.
    if (inserted.length < drafts.length) {
      const jobIds = [...new Set(drafts.map((draft) => draft.jobId).filter((id) => id !== undefined))];
      const existing = await queryable.query<RecordRow>('SELECT * FROM pixelpipe.records WHERE job_id = ANY($1::uuid[])', [jobIds]);
      const fresh = new Set(inserted.map((row) => row.id));
      records = [...inserted, ...existing.filter((row) => !fresh.has(row.id))];
    }
    const jobOrder = new Map(drafts.map((draft, index) => [draft.jobId, index]));
    return records.map(toRecord).sort((a, b) => (jobOrder.get(a.jobId) ?? 0) - (jobOrder.get(b.jobId) ?? 0) || a.imageIndex - b.imageIndex);
  }

  /** One record; undefined when unknown, or (with `apiKeyId`) another key's. */
  async get(id: string, { apiKeyId }: { apiKeyId?: string } = {}): Promise<ImageRecord | undefined> {
    if (!uuidPattern.test(id)) return undefined;
    const rows = await this.#database.query<RecordRow>(
      `SELECT * FROM pixelpipe.records WHERE id = $1 AND ($2::uuid IS NULL OR api_key_id = $2::uuid)`,
      [id, apiKeyId ?? null],
    );
    return rows[0] && toRecord(rows[0]);
  }

  /** A job's records in image order. */
  async forJob(jobId: string, queryable: Queryable = this.#database): Promise<ImageRecord[]> {
    const rows = await queryable.query<RecordRow>('SELECT * FROM pixelpipe.records WHERE job_id = $1 ORDER BY image_index', [jobId]);
    return rows.map(toRecord);
  }

  /** Records newest first, filtered; `nextCursor` continues after the last one. */
  async list(filter: RecordFilter = {}): Promise<RecordPage> {
    const limit = filter.limit ?? 20;
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
      throw new InvalidArgumentError({ argument: 'limit', value: limit, message: `\`limit\` must be a whole number from 1 to 100, got ${limit}` });
    }
    const conditions: string[] = [];
    const values: unknown[] = [];
    const add = (condition: (placeholder: string) => string, value: unknown) => {
      values.push(value);
      conditions.push(condition(`$${values.length}`));
    };
    for (const [field, value] of [['apiKeyId', filter.apiKeyId], ['jobId', filter.jobId], ['cursor', filter.cursor]] as const) {
      if (value !== undefined && !uuidPattern.test(value)) {
        throw new InvalidArgumentError({ argument: field, value, message: `\`${field}\` must be a UUID${field === 'cursor' ? ' (the nextCursor of a previous page)' : ''}, got ${JSON.stringify(value)}` });
      }
    }
    if (filter.apiKeyId !== undefined) add((p) => `api_key_id = ${p}::uuid`, filter.apiKeyId);
    if (filter.jobId !== undefined) add((p) => `job_id = ${p}::uuid`, filter.jobId);
    if (filter.provider !== undefined) add((p) => `provider = ${p}`, filter.provider);
    if (filter.model !== undefined) add((p) => `model_id = ${p}`, filter.model);
    if (filter.watermark !== undefined) add((p) => `watermark = ${p}`, filter.watermark.toLowerCase());
    if (filter.prompt !== undefined) add((p) => `request->>'prompt' ILIKE '%' || ${p} || '%'`, filter.prompt.replace(/[\\%_]/g, (character) => `\\${character}`));
    for (const [field, value] of [['since', filter.since], ['until', filter.until]] as const) {
      if (value !== undefined && Number.isNaN(value.getTime())) {
        throw new InvalidArgumentError({ argument: field, value, message: `\`${field}\` must be a date (ISO 8601, e.g. 2026-11-21T00:00:00Z)` });
      }
    }
    if (filter.since !== undefined) add((p) => `created_at >= ${p}`, filter.since.toISOString());
    if (filter.until !== undefined) add((p) => `created_at < ${p}`, filter.until.toISOString());
    // Keyset paging on (created_at, id), read from the cursor's own row so no precision is lost.
    if (filter.cursor !== undefined) add((p) => `(created_at, id) < (SELECT created_at, id FROM pixelpipe.records WHERE id = ${p}::uuid)`, filter.cursor);
    values.push(limit + 1);
    const rows = await this.#database.query<RecordRow>(
      `SELECT * FROM pixelpipe.records ${conditions.length ? `WHERE ${conditions.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const records = rows.slice(0, limit).map(toRecord);
    return rows.length > limit ? { records, nextCursor: records.at(-1)!.id } : { records };
  }
}
