// API keys of the HTTP service, kept hashed: creating, listing, revoking, authenticating, and each key's daily image quota.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database } from '../database/database.js';
import { NotFoundError } from '../errors/not-found-error.js';
import { QuotaExceededError } from '../errors/quota-exceeded-error.js';
import type { ApiKeyInfo } from '../image-service-types.js';
import { parseModerationPolicy, type PolicySetting } from '../safety/moderation-policy.js';

/** What `create` takes: a name and the key's limits (each unlimited, or the service default, when absent). */
export interface CreateApiKeyOptions {
  /** Who or what the key is for, 1 to 100 characters. */
  name: string;
  /** Requests per minute, per server process. */
  rateLimitPerMinute?: number;
  /** Images per UTC day. */
  dailyImageQuota?: number;
  /** Jobs of this key that may run at once. */
  maxConcurrentJobs?: number;
  /** An admin key may also use the routes that change what the server serves (`POST /v1/models/pull`, where the server allows it). Default false. */
  admin?: boolean;
  /** The key's own moderation policy (checked again here), or `off`; the server's policy when absent. */
  moderationPolicy?: PolicySetting;
}

/** Today's images of a key after a reservation. */
export interface ImageReservation {
  /** Images asked for today, this reservation included. */
  used: number;
  /** Images left today; absent for a key without a daily quota. */
  remaining?: number;
  /** The UTC day (`YYYY-MM-DD`) the images were counted on; pass it to `releaseImages` to give them back to that day. */
  day: string;
}

/** Options of the store. */
export interface ApiKeyStoreOptions {
  /** The clock: creation and revocation times, and which UTC day quotas count. */
  now?: () => Date;
}

/** Characters of the secret kept for display: `pp_` and seven more, too few to guess the rest from. */
export const apiKeyPrefixLength = 10;

// `revoke` wants `pp_` and at least three more, so a slip of the keyboard cannot revoke a key by `pp`.
const shortestRevokePrefix = 6;

// `pp_` and 32 random bytes in base64url.
const secretPattern = /^pp_[A-Za-z0-9_-]{43}$/;
const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// The columns are `integer`.
const largestLimit = 2 ** 31 - 1;
const foreignKeyViolation = '23503';

interface ApiKeyRow {
  id: string;
  name: string;
  prefix: string;
  created_at: Date;
  revoked_at: Date | null;
  rate_limit_per_minute: number | null;
  daily_image_quota: number | null;
  max_concurrent_jobs: number | null;
  admin: boolean;
  moderation_policy: PolicySetting | null;
}

const columns = 'id, name, prefix, created_at, revoked_at, rate_limit_per_minute, daily_image_quota, max_concurrent_jobs, admin, moderation_policy';

const hashOf = (secret: string) => createHash('sha256').update(secret).digest('hex');

// Optional fields are left out, not null, when unset.
function toInfo(row: ApiKeyRow): ApiKeyInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.created_at.toISOString(),
    ...(row.revoked_at ? { revokedAt: row.revoked_at.toISOString() } : {}),
    ...(row.rate_limit_per_minute !== null ? { rateLimitPerMinute: row.rate_limit_per_minute } : {}),
    ...(row.daily_image_quota !== null ? { dailyImageQuota: row.daily_image_quota } : {}),
    ...(row.max_concurrent_jobs !== null ? { maxConcurrentJobs: row.max_concurrent_jobs } : {}),
    ...(row.admin ? { admin: true } : {}),
    ...(row.moderation_policy !== null ? { moderationPolicy: row.moderation_policy } : {}),
  };
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > 100) {
    throw new InvalidArgumentError({ argument: 'name', value: name, message: `\`name\` must be 1 to 100 characters saying who or what the key is for, got ${JSON.stringify(name)}` });
  }
  return name;
}

function checkLimit(argument: string, value: unknown, unit: string): number | null {
  if (value === undefined) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > largestLimit) {
    throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be a whole number of ${unit} from 1 to ${largestLimit}, or left out for no limit; got ${JSON.stringify(value)}` });
  }
  return value;
}

function checkCount(count: unknown): number {
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > largestLimit) {
    throw new InvalidArgumentError({ argument: 'count', value: count, message: `\`count\` must be a whole number of images from 1 to ${largestLimit}, got ${JSON.stringify(count)}` });
  }
  return count;
}

function checkDay(day: unknown): string {
  if (typeof day !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(day) || Number.isNaN(Date.parse(`${day}T00:00:00Z`))) {
    throw new InvalidArgumentError({ argument: 'day', value: day, message: `\`day\` must be a UTC date as YYYY-MM-DD (the \`day\` a reservation gave back), got ${JSON.stringify(day)}` });
  }
  return day;
}

const utcDay = (time: Date) => time.toISOString().slice(0, 10);
const nextUtcMidnight = (time: Date) => new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), time.getUTCDate() + 1));

/**
 * The service's API keys in `pixelpipe.api_keys`. A secret is shown once, by `create`; only its
 * SHA-256 and its first characters are stored. Daily image counts live in `pixelpipe.api_key_usage`,
 * one row per key and UTC day, changed only by single statements so that servers sharing a
 * PostgreSQL database never let a key past its quota.
 */
export class ApiKeyStore {
  readonly #database: Database;
  readonly #now: () => Date;

  constructor(database: Database, { now = () => new Date() }: ApiKeyStoreOptions = {}) {
    this.#database = database;
    this.#now = now;
  }

  /** Makes a key; `secret` is the only copy of it, to show the user once. */
  async create({ name, rateLimitPerMinute, dailyImageQuota, maxConcurrentJobs, admin = false, moderationPolicy }: CreateApiKeyOptions): Promise<{ key: ApiKeyInfo; secret: string }> {
    if (typeof admin !== 'boolean') throw new InvalidArgumentError({ argument: 'admin', value: admin, message: `\`admin\` must be true or false (whether the key may pull models), got ${JSON.stringify(admin)}` });
    const values = [
      checkName(name),
      checkLimit('rateLimitPerMinute', rateLimitPerMinute, 'requests per minute'),
      checkLimit('dailyImageQuota', dailyImageQuota, 'images per UTC day'),
      checkLimit('maxConcurrentJobs', maxConcurrentJobs, 'jobs at once'),
      admin,
      moderationPolicy === undefined ? null : JSON.stringify(parseModerationPolicy(moderationPolicy)),
    ];
    const secret = `pp_${randomBytes(32).toString('base64url')}`;
    const [row] = await this.#database.query<ApiKeyRow>(
      `INSERT INTO pixelpipe.api_keys (name, rate_limit_per_minute, daily_image_quota, max_concurrent_jobs, admin, moderation_policy, hash, prefix, created_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9) RETURNING ${columns}`,
      [...values, hashOf(secret), secret.slice(0, apiKeyPrefixLength), this.#now()],
    );
    return { key: toInfo(row!), secret };
  }

  /** The keys, oldest first; revoked ones only with `includeRevoked`. */
  async list({ includeRevoked = false }: { includeRevoked?: boolean } = {}): Promise<ApiKeyInfo[]> {
    const rows = await this.#database.query<ApiKeyRow>(
      `SELECT ${columns} FROM pixelpipe.api_keys WHERE $1::boolean OR revoked_at IS NULL ORDER BY created_at, id`,
      [includeRevoked],
    );
    return rows.map(toInfo);
  }

  /**
   * Revokes the key with this id, the one key whose prefix starts with `idOrPrefix` (at least
   * `pp_` and three more characters), or the key of a whole secret, and gives it back. A key
   * revoked before keeps its first revocation time. Throws `NotFoundError` when no key matches and
   * `InvalidArgumentError` when several do.
   */
  async revoke(idOrPrefix: string): Promise<ApiKeyInfo> {
    const byId = typeof idOrPrefix === 'string' && uuidPattern.test(idOrPrefix);
    if (typeof idOrPrefix !== 'string' || (!byId && idOrPrefix.length < shortestRevokePrefix)) {
      throw new InvalidArgumentError({
        argument: 'idOrPrefix',
        value: idOrPrefix,
        message: `\`idOrPrefix\` must be a key's id or at least ${shortestRevokePrefix} characters of its prefix (as \`keys list\` shows), got ${JSON.stringify(idOrPrefix)}`,
      });
    }
    const matches = await this.#database.query<ApiKeyRow>(
      byId
        ? `SELECT ${columns} FROM pixelpipe.api_keys WHERE id = $1::uuid`
        : `SELECT ${columns} FROM pixelpipe.api_keys WHERE starts_with(prefix, $1) OR hash = $2 ORDER BY created_at, id`,
      byId ? [idOrPrefix] : [idOrPrefix, hashOf(idOrPrefix)],
    );
    if (matches.length === 0) throw new NotFoundError({ resource: 'key', id: idOrPrefix });
    if (matches.length > 1) {
      const listed = matches.map((row) => `${row.id} ${JSON.stringify(row.name)} (${row.prefix}${row.revoked_at ? ', revoked' : ''})`).join(', ');
      throw new InvalidArgumentError({
        argument: 'idOrPrefix',
        value: idOrPrefix,
        message: `\`idOrPrefix\` ${JSON.stringify(idOrPrefix)} matches ${matches.length} keys: ${listed}; give the key's id, or more of its prefix`,
      });
    }
    // coalesce keeps the first revocation time when the key was revoked before.
    const [row] = await this.#database.query<ApiKeyRow>(
      `UPDATE pixelpipe.api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1 RETURNING ${columns}`,
      [matches[0]!.id, this.#now()],
    );
    if (!row) throw new NotFoundError({ resource: 'key', id: idOrPrefix });
    return toInfo(row);
  }

  /** The key a secret belongs to; `'revoked'` for a revoked key; undefined for anything else. */
  async authenticate(secret: string): Promise<ApiKeyInfo | 'revoked' | undefined> {
    // Not the shape of a secret: no need to ask the database.
    if (typeof secret !== 'string' || !secretPattern.test(secret)) return undefined;
    const hash = hashOf(secret);
    const [row] = await this.#database.query<ApiKeyRow & { hash: string }>(`SELECT ${columns}, hash FROM pixelpipe.api_keys WHERE hash = $1`, [hash]);
    if (!row) return undefined;
    // The index found it; compare again in constant time so nothing depends on where the strings differ.
    const stored = Buffer.from(row.hash, 'hex');
    const given = Buffer.from(hash, 'hex');
    if (stored.length !== given.length || !timingSafeEqual(stored, given)) return undefined;
    return row.revoked_at ? 'revoked' : toInfo(row);
  }

  /** The key's own moderation policy; undefined for a key without one (the server's applies) or no such key. */
  async moderationPolicyOf(id: string): Promise<PolicySetting | undefined> {
    const [row] = await this.#database.query<Pick<ApiKeyRow, 'moderation_policy'>>('SELECT moderation_policy FROM pixelpipe.api_keys WHERE id = $1::uuid', [id]);
    return row?.moderation_policy ?? undefined;
  }

  /** Whether any key is not revoked. */
  async hasKeys(): Promise<boolean> {
    const [row] = await this.#database.query<{ found: boolean }>('SELECT EXISTS (SELECT 1 FROM pixelpipe.api_keys WHERE revoked_at IS NULL) AS found');
    return row?.found === true;
  }

  /**
   * Counts `count` images against the key's quota for today (UTC). When they would take it past
   * `dailyImageQuota`, nothing changes and `QuotaExceededError` says when the quota resets. Keys
   * without a quota are only counted. One statement checks and adds, so parallel reservations
   * (from any number of servers on one PostgreSQL database) never pass the quota between them.
   */
  async reserveImages(key: ApiKeyInfo, count: number): Promise<ImageReservation> {
    checkCount(count);
    const now = this.#now();
    const day = utcDay(now);
    const quota = key.dailyImageQuota ?? null;
    let rows: { images: number }[];
    try {
      // The INSERT's WHERE covers a first reservation of the day; the UPDATE's WHERE, evaluated on the
      // locked, latest row, covers the rest. Either failing returns no row and changes nothing.
      rows = await this.#database.query<{ images: number }>(
        `INSERT INTO pixelpipe.api_key_usage AS usage (api_key_id, day, images)
         SELECT $1::uuid, $2::date, $3::int WHERE $4::int IS NULL OR $3::int <= $4::int
         ON CONFLICT (api_key_id, day) DO UPDATE SET images = usage.images + excluded.images
           WHERE $4::int IS NULL OR usage.images + excluded.images <= $4::int
         RETURNING images`,
        [key.id, day, count, quota],
      );
    } catch (error) {
      if ((error as { code?: unknown })?.code === foreignKeyViolation) throw new NotFoundError({ resource: 'key', id: key.id });
      throw error;
    }
    const [row] = rows;
    if (row) return { used: row.images, ...(quota === null ? {} : { remaining: Math.max(0, quota - row.images) }), day };
    const used = await this.#usedOn(key.id, day);
    throw new QuotaExceededError({ quota: quota!, used, requested: count, resetsAt: nextUtcMidnight(now) });
  }

  /**
   * Gives back `count` images reserved earlier, when the work they were reserved for was refused
   * (an idempotent replay, a failed submit). `day` is the reservation's; today (UTC) when absent.
   * The count never goes below zero.
   */
  async releaseImages(key: ApiKeyInfo, count: number, { day = utcDay(this.#now()) }: { day?: string } = {}): Promise<void> {
    checkCount(count);
    checkDay(day);
    await this.#database.query(
      'UPDATE pixelpipe.api_key_usage SET images = greatest(images - $3::int, 0) WHERE api_key_id = $1::uuid AND day = $2::date',
      [key.id, day, count],
    );
  }

  /** Images the key has asked for on a UTC day (`YYYY-MM-DD`); today when absent. */
  async imagesUsed(key: ApiKeyInfo, { day = utcDay(this.#now()) }: { day?: string } = {}): Promise<number> {
    return await this.#usedOn(key.id, checkDay(day));
  }

  async #usedOn(keyId: string, day: string): Promise<number> {
    const [row] = await this.#database.query<{ images: number }>('SELECT images FROM pixelpipe.api_key_usage WHERE api_key_id = $1::uuid AND day = $2::date', [keyId, day]);
    return row?.images ?? 0;
  }
}
