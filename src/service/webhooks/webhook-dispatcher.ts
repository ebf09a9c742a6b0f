// Per-job webhooks: each delivery a job on its own durable queue, signed afresh and recorded on every attempt, retried with backoff.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database, DatabaseTransaction } from '../database/database.js';
import { JobQueue } from '../jobs/job-queue.js';
import { isJobId } from '../jobs/job-status.js';
import type { JobContext, StopOptions } from '../jobs/job-types.js';
import { checkWebhookDestination, createGuardedLookup, parseWebhookUrl, type DestinationLookup } from './webhook-destination.js';
import { WebhookDeliveryError } from './webhook-delivery-error.js';
import { createWebhookSender, type WebhookSender } from './webhook-sender.js';
import { signStandardWebhook } from './standard-webhook-signature.js';
import { signatureHeader, signWebhook } from './webhook-signature.js';

/** Name of the pg-boss queue deliveries go to. */
export const webhookQueueName = 'pixelpipe-webhooks';

/** The events a job's webhook is sent for. */
export const webhookEvents = ['job.succeeded', 'job.failed', 'job.cancelled'] as const;

/** One of `webhookEvents`. */
export type WebhookEvent = (typeof webhookEvents)[number];

/** Settings of a dispatcher. */
export interface WebhookDispatcherConfig {
  /** The database the delivery queue and the recorded attempts live in. */
  database: Database;
  /** Secret bodies are signed with (PIXELPIPE_WEBHOOK_SECRET); at least 16 characters. */
  secret: string;
  /** Send to private, loopback and link-local addresses too (PIXELPIPE_WEBHOOK_ALLOW_PRIVATE). Default false. */
  allowPrivate?: boolean;
  /** pg-boss queue name. Default `pixelpipe-webhooks`. */
  queueName?: string;
  /** Retries after the first attempt. Default 8. */
  retryLimit?: number;
  /**
   * Wait before the first retry, in whole seconds; retry n waits between `retryDelaySeconds × 2^(n-1)`
   * and twice that. 0 retries at once, without backoff (pg-boss's backoff never waits under a second). Default 5.
   */
  retryDelaySeconds?: number;
  /** Longest wait for a receiver's status line, connecting included, in milliseconds. Default 10 000. */
  timeoutMs?: number;
  /** Makes the POST; default node's http/https with the connect-time address check. Injected by tests. */
  request?: WebhookSender;
  /** Resolves host names for the address check, before and at connect time; default `dns.promises.lookup`. */
  lookup?: DestinationLookup;
  /** The clock for `createdAt` and signature timestamps (`webhook-timestamp`, `t`). Default `() => new Date()`. */
  now?: () => Date;
  /** Told about errors no caller waits for; default: written to stderr. */
  onError?: (error: Error) => void;
}

/** What `enqueue` takes. */
export interface WebhookMessage {
  /** The generation job the event is about. */
  jobId: string;
  /** What happened to it. */
  event: WebhookEvent;
  /** Where to POST; http or https, no credentials. */
  url: string;
  /** Sent as the body's `data`; anything `JSON.stringify` takes. */
  payload: unknown;
}

/** One recorded attempt. */
export interface WebhookDelivery {
  event: string;
  url: string;
  /** 1 for the first attempt. */
  attempt: number;
  /** The receiver's status; absent when none came (refused, network error, timeout). */
  statusCode?: number;
  /** Why no status came, or why a status was not a success. */
  error?: string;
  /** When the attempt ended. */
  deliveredAt: Date;
}

// What a delivery job holds. The body is kept as sent, so every retry sends the same bytes.
const deliverySchema = z.object({ deliveryId: z.string(), jobId: z.string(), event: z.string(), url: z.string(), body: z.string() });
type DeliveryData = z.infer<typeof deliverySchema>;

const retryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

/** Sends and records job webhooks; one instance per process, any number sharing a database. */
export class WebhookDispatcher {
  readonly #queue: JobQueue;
  readonly #database: Database;
  readonly #secret: string;
  readonly #allowPrivate: boolean;
  readonly #timeoutMs: number;
  readonly #request: WebhookSender;
  readonly #lookup: DestinationLookup | undefined;
  readonly #now: () => Date;

  constructor({
    database,
    secret,
    allowPrivate = false,
    queueName = webhookQueueName,
    retryLimit = 8,
    retryDelaySeconds = 5,
    timeoutMs = 10_000,
    request,
    lookup,
    now = () => new Date(),
    onError = (error) => console.error(`pixelpipe: webhooks: ${error.message}`),
  }: WebhookDispatcherConfig) {
    if (typeof secret !== 'string' || secret.length < 16) {
      throw new InvalidArgumentError({ argument: 'secret', value: '(hidden)', message: `webhook \`secret\` must be at least 16 characters, got ${typeof secret === 'string' ? `${secret.length} characters` : typeof secret}; set PIXELPIPE_WEBHOOK_SECRET or let the service generate one` });
    }
    if (!(Number.isFinite(timeoutMs) && timeoutMs > 0 && timeoutMs <= 600_000)) {
      throw new InvalidArgumentError({ argument: 'timeoutMs', value: timeoutMs, message: `\`timeoutMs\` must be above 0 and at most 600000, got ${timeoutMs}` });
    }
    this.#database = database;
    this.#secret = secret;
    this.#allowPrivate = allowPrivate;
    this.#timeoutMs = timeoutMs;
    this.#lookup = lookup;
    this.#now = now;
    this.#request = request ?? createWebhookSender({ allowPrivate, ...(lookup && !allowPrivate ? { lookup: createGuardedLookup(lookup) } : {}) });
    // An attempt's expiry only has to cover the request and recording it.
    const expireInSeconds = Math.ceil(timeoutMs / 1000) + 60;
    this.#queue = new JobQueue({ database, queueName, retryLimit, retryDelaySeconds, retryBackoff: retryDelaySeconds !== 0, expireInSeconds, onError });
  }

  /** Brings the schema up to date and creates the delivery queue; calling it again does nothing. */
  start(): Promise<void> {
    return this.#queue.start();
  }

  /**
   * Queues a delivery. The URL's form is checked now (an `InvalidArgumentError` naming
   * `webhook.url`); its addresses are checked at every attempt, since DNS may change.
   * With `transaction`, the delivery is queued inside it and exists only if it commits (pass the
   * transaction that settles the job, so the webhook goes out exactly when the outcome is written).
   * Without one, the same job and event queued again gives the first delivery back
   * (`created: false`), so an event is not sent twice.
   */
  async enqueue({ jobId, event, url, payload }: WebhookMessage, { transaction }: { transaction?: DatabaseTransaction } = {}): Promise<{ deliveryId: string; created: boolean }> {
    if (!isJobId(jobId)) throw new InvalidArgumentError({ argument: 'jobId', value: jobId, message: `\`jobId\` must be a job's UUID, got ${JSON.stringify(jobId)}` });
    if (!webhookEvents.includes(event)) {
      throw new InvalidArgumentError({ argument: 'event', value: event, message: `webhook \`event\` must be one of ${webhookEvents.join(', ')}, got ${JSON.stringify(event)}` });
    }
    parseWebhookUrl(url);
    const deliveryId = randomUUID();
    let body: string;
    try {
      body = JSON.stringify({ id: deliveryId, event, createdAt: this.#now().toISOString(), data: payload ?? null });
    } catch (error) {
      throw new InvalidArgumentError({ argument: 'payload', value: payload, message: `webhook \`payload\` must be JSON-serialisable: ${(error as Error).message}`, cause: error });
    }
    const data: DeliveryData = { deliveryId, jobId, event, url, body };
    // The queue refuses an idempotency key inside a caller's transaction; the transaction itself keeps it once.
    const submitted = await this.#queue.submit(data, transaction ? { transaction } : { idempotencyKey: `webhook:${jobId}:${event}` });
    if (submitted.created) return { deliveryId, created: true };
    const earlier = deliverySchema.safeParse((await this.#queue.get(submitted.id))?.request);
    return { deliveryId: earlier.success ? earlier.data.deliveryId : submitted.id, created: false };
  }

  /** Delivers queued webhooks, `concurrency` at a time, until `stop`. */
  async work({ concurrency = 4, pollingIntervalSeconds = 1 }: { concurrency?: number; pollingIntervalSeconds?: number } = {}): Promise<void> {
    await this.#queue.work((job) => this.#deliver(job), { concurrency, pollingIntervalSeconds });
  }

  /** Every recorded attempt for the job's webhooks, oldest first; empty for an unknown job. */
  async deliveries(jobId: string): Promise<WebhookDelivery[]> {
    if (!isJobId(jobId)) return [];
    const rows = await this.#database.query<{ event: string; url: string; attempt: number; statusCode: number | null; error: string | null; deliveredAt: Date }>(
      'SELECT event, url, attempt, status_code AS "statusCode", error, delivered_at AS "deliveredAt" FROM pixelpipe.webhook_deliveries WHERE job_id = $1 ORDER BY delivered_at, attempt, event',
      [jobId],
    );
    return rows.map(({ statusCode, error, ...row }) => ({ ...row, ...(statusCode === null ? {} : { statusCode }), ...(error === null ? {} : { error }) }));
  }

  /** Stops delivering (see `StopOptions`); a delivery cut off goes back to the queue. Leaves the database open. */
  stop(options?: StopOptions): Promise<void> {
    return this.#queue.stop(options);
  }

  // One attempt: check the destination, sign, POST, record. Throwing sends the job to the queue's retry logic.
  async #deliver({ request, attempt, signal }: JobContext): Promise<{ statusCode: number }> {
    const parsed = deliverySchema.safeParse(request);
    if (!parsed.success) throw new InvalidArgumentError({ argument: 'request', value: request, message: `a webhook delivery job holds ${JSON.stringify(request)}, not a delivery; it was not queued by WebhookDispatcher.enqueue` });
    const delivery = parsed.data;
    let statusCode: number | undefined;
    let failure: Error | undefined;
    try {
      await checkWebhookDestination(delivery.url, { allowPrivate: this.#allowPrivate, ...(this.#lookup ? { lookup: this.#lookup } : {}) });
      const timestamp = Math.floor(this.#now().getTime() / 1000);
      const response = await this.#request({
        url: delivery.url,
        body: delivery.body,
        timeoutMs: this.#timeoutMs,
        signal,
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'pixelpipe-webhooks',
          'Pixelpipe-Event': delivery.event,
          'Pixelpipe-Delivery': delivery.deliveryId,
          // The delivery id is the message id, so a receiver drops retries of one delivery by `webhook-id`.
          ...signStandardWebhook({ secret: this.#secret, id: delivery.deliveryId, body: delivery.body, timestamp }),
          // Deprecated; kept for one release so receivers checking it have time to move to `webhook-signature`.
          [signatureHeader]: signWebhook({ secret: this.#secret, body: delivery.body, timestamp }),
        },
      });
      statusCode = response.statusCode;
      failure = this.#judge(delivery.url, response.statusCode, response.location);
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    const errorText = failure && (statusCode === undefined || statusCode < 400) ? failure.message.slice(0, 2000) : null;
    await this.#database.query(
      'INSERT INTO pixelpipe.webhook_deliveries (job_id, event, url, attempt, status_code, error) VALUES ($1, $2, $3, $4, $5, $6)',
      [delivery.jobId, delivery.event, delivery.url, attempt, statusCode ?? null, errorText],
    );
    if (failure) throw failure;
    return { statusCode: statusCode! };
  }

  // A 2xx is delivered; 408, 429 and 5xx may clear up; anything else (3xx included) will not.
  #judge(url: string, statusCode: number, location: string | undefined): WebhookDeliveryError | undefined {
    if (statusCode >= 200 && statusCode < 300) return undefined;
    if (statusCode >= 300 && statusCode < 400) {
      return new WebhookDeliveryError({ url, statusCode, isRetryable: false, message: `${url} answered ${statusCode} (redirect${location ? ` to ${location}` : ''}); redirects are not followed, so set the webhook URL to the final address` });
    }
    const isRetryable = retryableStatus(statusCode);
    return new WebhookDeliveryError({ url, statusCode, isRetryable, message: `${url} answered ${statusCode}; ${isRetryable ? 'will retry' : 'not retried: only 408, 429 and 5xx are'}` });
  }
}
