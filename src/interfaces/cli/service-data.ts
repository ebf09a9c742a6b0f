// Which data directory a command uses, said on stderr, and how it reaches the data: a running server's admin socket, or the database itself.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadSettings, type Settings } from '../../config/settings.js';
import type { ServiceAdmin } from '../../service/admin/service-admin.js';
import { probeAdminSocket, socketAdmin } from './admin-client.js';

/** The admin socket `pixelpipe serve` listens on, inside its data directory. */
export function adminSocketPath(dataDir: string): string {
  return join(resolve(dataDir), 'pixelpipe.sock');
}

/** Unix socket paths are limited to 107 bytes on Linux (103 on macOS). */
export function fitsSocketPath(path: string): boolean {
  return Buffer.byteLength(path) <= 103;
}

/** The settings of a command that takes --data-dir, and where its data directory came from. */
export function commandSettings(dataDirFlag: string | undefined, environment: NodeJS.ProcessEnv): { settings: Settings; source: string } {
  const settings = loadSettings({ dataDir: dataDirFlag }, environment);
  const source = dataDirFlag !== undefined ? '--data-dir' : environment.PIXELPIPE_DATA_DIR ? 'PIXELPIPE_DATA_DIR' : 'the default; set it with --data-dir or PIXELPIPE_DATA_DIR';
  return { settings, source };
}

/** The command's data directory (`where` says which, for its first line), and the admin operations of the server answering on its socket, if one does. */
export async function findServer(dataDirFlag: string | undefined, environment: NodeJS.ProcessEnv, loaded = commandSettings(dataDirFlag, environment)): Promise<{ settings: Settings; where: string; server?: ServiceAdmin }> {
  const { settings, source } = loaded;
  const socket = adminSocketPath(settings.dataDir);
  const info = existsSync(socket) && fitsSocketPath(socket) ? await probeAdminSocket(socket) : undefined;
  return { settings, where: `data directory: ${resolve(settings.dataDir)} (${source})`, ...(info && { server: socketAdmin(socket, info) }) };
}

/**
 * The admin operations for a command: through the server whose admin socket answers in the data
 * directory (it holds the embedded database), else on the database itself. Says on `stderr` which
 * data directory and which way it uses, before any work. `loaded`: the command's settings, when it has read them already.
 */
export async function openAdmin(dataDirFlag: string | undefined, { environment = process.env, stderr = process.stderr, loaded }: { environment?: NodeJS.ProcessEnv; stderr?: { write(text: string): unknown }; loaded?: ReturnType<typeof commandSettings> } = {}): Promise<ServiceAdmin> {
  const { settings, where, server } = await findServer(dataDirFlag, environment, loaded);
  if (server) {
    stderr.write(`${where}; using ${server.via}\n`);
    return server;
  }
  stderr.write(`${where}; using ${settings.databaseUrl ? 'the PostgreSQL server at PIXELPIPE_DATABASE_URL' : 'the embedded database (no server runs on it)'}\n`);
  // The database, the blob store and the engine load only when no server answers for them.
  const { openDatabaseAdmin } = await import('../../service/admin/database-admin.js');
  return await openDatabaseAdmin(settings);
}
