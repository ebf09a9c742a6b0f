// What the service writes at each turn of a job's life, in the transaction that makes the turn: its
// events, its records, its webhooks and its metrics. A job that completes has them exactly once.
import { together, type DatabaseTransaction } from '../database/database.js';
import type { RecordStore } from '../records/record-store.js';
import type { AuditEntry, AuditLog } from '../safety/audit-log.js';
import type { ServiceMetrics } from '../service-metrics.js';
import { jobResult, submittedAtMs } from '../job-views.js';
import type { JobSettleHook, JobStatus, WorkOptions } from '../jobs/job-types.js';
import type { WebhookDispatcher, WebhookEvent } from '../webhooks/webhook-dispatcher.js';
import type { GenerationOutput } from './generation-handler.js';
import { forgetJobBlobs } from './job-blobs.js';
import type { JobEventLog } from './job-events.js';
import type { JobRequest } from './job-request.js';

/**
 * What is written with new jobs, in their transaction: their first event (so no worker's `running` can
 * come before it) and the audit entry of their prompt's screening, which the submit kept in `meta`.
 */
export function jobsCreated(events: JobEventLog, audit: AuditLog): (transaction: DatabaseTransaction, created: JobStatus[]) => Promise<void> {
  return async (transaction, created) => {
    const screened = created.flatMap((job) => (job.meta?.audit ? [{ ...(job.meta.audit as AuditEntry), jobId: job.id }] : []));
    // Sent together (see DatabaseTransaction): neither needs the other's answer.
    await together([
      events.appendMany(created.map((job) => ({ jobId: job.id, type: 'queued' as const, data: { position: job.position ?? null } })), transaction),
      audit.append(screened, transaction),
    ]);
  };
}

/** Tells a job's webhook, if it has one, through `transaction` (so the delivery commits with what it reports). */
export function jobWebhooks(webhooks: WebhookDispatcher) {
  return async (transaction: DatabaseTransaction | undefined, request: unknown, jobId: string, event: WebhookEvent, payload: Record<string, unknown>): Promise<void> => {
    const url = (request as Partial<JobRequest> | undefined)?.webhook?.url;
    if (url) await webhooks.enqueue({ jobId, event, url, payload }, { transaction });
  };
}

/** The hooks the queue's worker calls when it claims jobs and when attempts end. */
export function jobOutcomes({ events, records, audit, webhooks, metrics }: { events: JobEventLog; records: RecordStore; audit: AuditLog; webhooks: WebhookDispatcher; metrics: ServiceMetrics }): Required<Pick<WorkOptions, 'onClaimed' | 'onSucceeded'>> & { onSettled: JobSettleHook } {
  const notifyWebhook = jobWebhooks(webhooks);
  return {
    // A job's `running` event is written with its claim, so it comes before any of its steps.
    onClaimed: (transaction, claimed) => events.appendMany(claimed.map(({ id, attempt }) => ({ jobId: id, type: 'running' as const, data: { attempt } })), transaction),

    // Jobs that succeed together are written together, one statement per table.
    async onSucceeded(transaction, succeeded) {
      const outputs = succeeded.map(({ output }) => output as GenerationOutput);
      const ids = succeeded.map(({ job }) => job.id);
      // Statements that need no earlier one's answer are sent together (see DatabaseTransaction).
      const [stored] = await together([
        records.insert(transaction, outputs.flatMap((output) => output.records)),
        forgetJobBlobs(transaction, ids),
        audit.append(outputs.flatMap((output) => output.audit ?? []), transaction),
      ]);
      const byJob = new Map(ids.map((id) => [id, stored.filter((record) => record.jobId === id)]));
      // Events and webhooks tell what the job view does: a best-of-N job's chosen records, and its rejected ones apart.
      const results = new Map(ids.map((id) => [id, jobResult(byJob.get(id)!)]));
      await together([
        events.appendMany(ids.map((id) => ({ jobId: id, type: 'done' as const, data: results.get(id)! })), transaction),
        ...succeeded.map(({ job }) => notifyWebhook(transaction, job.request, job.id, 'job.succeeded', { jobId: job.id, state: 'succeeded', ...results.get(job.id)! })),
      ]);
      outputs.forEach((output, index) => metrics.jobEnded('succeeded', submittedAtMs(ids[index]!), output.timings));
      return ids.map((id) => ({ recordIds: byJob.get(id)!.map((record) => record.id) }));
    },

    // Failures: only a final one is told (a retry is not an outcome yet).
    async onSettled(transaction, job, settlement) {
      if (settlement.state !== 'failed' || !settlement.final) return undefined;
      await events.append(job.id, 'error', { error: settlement.error }, transaction);
      await notifyWebhook(transaction, job.request, job.id, 'job.failed', { jobId: job.id, state: 'failed', error: settlement.error });
      metrics.jobEnded('failed', submittedAtMs(job.id));
      return undefined;
    },
  };
}
