// What `pixelpipe keys`, `history` and `reproduce` do, whether they reach the data through a running server or open the database themselves.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { NotFoundError } from '../errors/not-found-error.js';
import type { ApiKeyInfo, ImageRecord, RecordFilter, RecordPage } from '../image-service-types.js';
import type { RunningImageService } from '../image-service.js';
import type { CreateApiKeyOptions } from '../keys/api-key-store.js';
import type { ListedModel } from '../models/catalog-listing.js';
import type { ReproduceOptions, Reproduction } from '../reproduce-record.js';
import type { GenerationToRecord, RecordedGeneration } from '../generation/image-recording.js';
import type { AuditFilter, AuditPage } from '../safety/audit-log.js';

/** What reproducing a record found, as plain data (it crosses the admin socket). */
export interface ReproductionReport {
  id: string;
  /** True when the new pixels are the record's. */
  matches: boolean;
  pixelSha256: { recorded?: string; reproduced: string };
  sha256: { recorded: string; reproduced: string; matches: boolean };
  modelHash: { recorded?: string; now?: string };
  /** The new image. */
  image: { bytes: Uint8Array; mediaType: string };
}

/** The administrative operations of a service's data. */
export interface ServiceAdmin {
  /** How the data is reached, e.g. `the running server (pid 4242)`, for the command's first line. */
  readonly via: string;
  createKey(options: CreateApiKeyOptions): Promise<{ key: ApiKeyInfo; secret: string }>;
  listKeys(options?: { includeRevoked?: boolean }): Promise<ApiKeyInfo[]>;
  /** Revokes by id or the start of the prefix; `NotFoundError` when none matches. */
  revokeKey(idOrPrefix: string): Promise<ApiKeyInfo>;
  listRecords(filter: RecordFilter): Promise<RecordPage>;
  /** The moderation audit log, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditPage>;
  /** Makes the record's image again and compares; `NotFoundError` for an unknown record. */
  reproduce(id: string, options?: ReproduceOptions): Promise<ReproductionReport>;
  /** Records a generation made outside the queue (`pixelpipe generate`): finishes, stores and records its images. */
  recordGeneration(generation: GenerationToRecord): Promise<RecordedGeneration>;
  /** The models clients may name: a running server's catalog (its `--model` and extra models included), else what this machine's model cache and provider keys give. */
  listModels(): Promise<ListedModel[]>;
  close(): Promise<void>;
}

export function reportOf(reproduction: Reproduction): ReproductionReport {
  const { record, image } = reproduction;
  return {
    id: record.id,
    matches: reproduction.matches,
    pixelSha256: { recorded: record.pixelSha256, reproduced: reproduction.pixelSha256 },
    sha256: { recorded: record.sha256, reproduced: reproduction.sha256, matches: reproduction.bytesMatch },
    modelHash: { recorded: record.modelHash, now: reproduction.modelHash },
    image: { bytes: image.bytes, mediaType: image.mediaType },
  };
}

export async function recordOrThrow(get: (id: string) => Promise<ImageRecord | undefined>, id: string): Promise<ImageRecord> {
  const record = await get(id);
  if (!record) throw new NotFoundError({ resource: 'record', id });
  return record;
}

/** The operations on a running service, for its admin socket: a reproduction is a job like any other, run by its workers. */
export function serviceAdmin(service: RunningImageService): ServiceAdmin {
  return {
    via: `the running server (pid ${process.pid})`,
    createKey: (options) => service.keys.create(options),
    listKeys: (options) => service.keys.list(options),
    revokeKey: (idOrPrefix) => service.keys.revoke(idOrPrefix),
    listRecords: (filter) => service.listRecords(filter),
    listAudit: (filter) => service.listAudit(filter),
    async reproduce(id, options) {
      const record = await recordOrThrow((recordId) => service.getRecord(recordId), id);
      const { compareReproduction, reproductionRequest } = await import('../reproduce-record.js');
      const { job } = await service.submit(reproductionRequest(record, options));
      const done = await service.waitForJob(job.id);
      const made = done.records[0];
      const blob = made && (await service.storage.get(made.blobKey));
      if (done.state !== 'succeeded' || !made || !blob) {
        throw new PixelpipeError({ name: 'ReproductionFailedError', message: `the job reproducing record ${id} (${job.id}) ended ${done.state}: ${done.error?.message ?? 'it stored no image'}` });
      }
      return reportOf(await compareReproduction(record, { bytes: blob.bytes, mediaType: made.mediaType, settings: made.settings }, made.modelHash, made.pixelSha256));
    },
    listModels: () => service.listModels(),
    recordGeneration: (generation) => service.recordGeneration(generation),
    close: async () => undefined,
  };
}
