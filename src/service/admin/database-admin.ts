// The admin operations on the database and blob store themselves, for commands run while no server holds them.
import { createServedControlNets } from '../controlnets/served-controlnets.js';
import { join } from 'node:path';
import type { Settings } from '../../config/settings.js';
import { ApiKeyStore } from '../keys/api-key-store.js';
import { recordGeneration } from '../generation/image-recording.js';
import { openServiceStores } from '../open-service-stores.js';
import { AuditLog } from '../safety/audit-log.js';
import { createModeration, moderationScreen, type Moderation } from '../safety/moderation.js';
import { loadModerationPolicy } from '../safety/moderation-policy.js';
import type { ImageFinishing } from '../provenance/image-finishing.js';
import { finishingFromSettings } from '../provenance/service-finishing.js';
import type { Pixelpipe } from '../pixelpipe.js';
import { recordOrThrow, reportOf, type ServiceAdmin } from './service-admin.js';

/** The operations on the database and blob store themselves, for when no server holds them; a reproduction runs in this process. */
export async function openDatabaseAdmin(settings: Settings): Promise<ServiceAdmin> {
  const stores = await openServiceStores(settings);
  const keys = new ApiKeyStore(stores.database);
  let pixelpipe: Pixelpipe | undefined;
  let finishing: ImageFinishing | undefined;
  let moderation: Moderation | undefined;
  const audit = new AuditLog(stores.database);
  return {
    via: stores.settings.databaseUrl ? 'the PostgreSQL server at PIXELPIPE_DATABASE_URL' : 'the embedded database (no server runs on it)',
    createKey: (options) => keys.create(options),
    listKeys: (options) => keys.list(options),
    revokeKey: (idOrPrefix) => keys.revoke(idOrPrefix),
    listRecords: (filter) => stores.records.list(filter),
    listAudit: (filter) => audit.list(filter),
    async reproduce(id, { model } = {}) {
      const record = await recordOrThrow((recordId) => stores.records.get(recordId), id);
      // The engine loads only for a reproduction, not for listing keys or records.
      const [{ createPixelpipe }, { reproduceRecord }] = await Promise.all([import('../pixelpipe.js'), import('../reproduce-record.js')]);
      const engine = (pixelpipe ??= createPixelpipe({ settings: stores.settings, onNotice: (message) => process.stderr.write(`${message}\n`) }));
      const controlNets = createServedControlNets(stores.settings.controlnetDir);
      const controlNetLocation = async (name: string | undefined, reference: string) => controlNets.location(name, (await engine.locate(reference))?.folder ?? reference);
      return reportOf(await reproduceRecord(record, { pixelpipe: engine, storage: stores.storage, model, loraPath: (name) => join(stores.settings.loraDir, `${name}.safetensors`), controlNetLocation }));
    },
    async listModels() {
      const [{ createPixelpipe }, { cacheCatalog, listCatalog }] = await Promise.all([import('../pixelpipe.js'), import('../models/catalog-listing.js')]);
      pixelpipe ??= createPixelpipe({ settings: stores.settings, onNotice: (message) => process.stderr.write(`${message}\n`) });
      return await listCatalog(cacheCatalog(pixelpipe), pixelpipe);
    },
    async recordGeneration(generation) {
      // The CLI's own images are screened by the data directory's settings, as a server on it would.
      moderation ??= createModeration({ policy: await loadModerationPolicy(stores.settings.moderationPolicy ?? 'default') });
      finishing ??= await finishingFromSettings(stores.settings, { onNotice: (message) => process.stderr.write(`${message}\n`), createDevelopmentCertificates: true, screen: moderationScreen(moderation, audit) });
      return await recordGeneration({ ...stores, audit, finishing }, generation);
    },
    async close() {
      await moderation?.close();
      await pixelpipe?.close();
      await stores.close();
    },
  };
}
