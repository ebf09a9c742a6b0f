// Keeps a PGlite data directory to one process: PGlite itself does not stop a second opener, and two would corrupt it.
import { mkdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { currentProcess, isProcessAlive, type ProcessIdentity } from '../process-identity.js';

/** Name of the lock file inside the data directory. */
export const lockFileName = 'pixelpipe.lock';

/** A held lock; `release` removes the lock file. */
export interface DataDirectoryLock {
  /** Path of the lock file. */
  path: string;
  /** Stops refreshing the lock and removes the lock file if this process still owns it. */
  release(): Promise<void>;
}

/** Options of `lockDataDirectory`. */
export interface LockOptions {
  /** How often the holder touches the lock file, in milliseconds. Default 10 000. */
  refreshMs?: number;
  /** A lock file from another host untouched for this long is stale and taken over, in milliseconds. Default 30 000. */
  staleMs?: number;
}

type LockOwner = ProcessIdentity;

// Directories this process holds. A lock file naming our own pid and host but absent here was
// left by an earlier process that had the same pid (common in containers, where it is often 1).
const heldHere = new Set<string>();

/** Who holds the data directory's lock, if anyone wrote one. */
export async function readLockOwner(path: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.host === 'string' ? { pid: owner.pid, host: owner.host, start: typeof owner.start === 'string' ? owner.start : undefined } : undefined;
  } catch {
    return undefined;
  }
}

async function isStale(path: string, me: LockOwner, staleMs: number): Promise<{ stale: boolean; owner?: LockOwner }> {
  const owner = await readLockOwner(path);
  // An unreadable file is a write cut short.
  if (owner === undefined) return { stale: true };
  // On our own host the process table tells for sure (a zombie or a reused pid is no holder); from
  // elsewhere (another container sharing the volume) only the heartbeat does.
  if (owner.host === me.host) return { stale: owner.pid === me.pid || !isProcessAlive(owner), owner };
  const touched = await stat(path).then((info) => info.mtimeMs, () => 0);
  return { stale: Date.now() - touched > staleMs, owner };
}

function refuse(directory: string, path: string, reason: string): never {
  throw new InvalidArgumentError({
    argument: 'dataDir',
    value: directory,
    message: `\`dataDir\` ${directory} is in use by ${reason} (its lock: ${path}); the embedded database serves one process. \`pixelpipe keys\`, \`history\` and \`reproduce\` reach a running \`pixelpipe serve\` through its admin socket; for several servers or workers, share one PostgreSQL server (PIXELPIPE_DATABASE_URL)`,
  });
}

/** Takes the data directory for this process, creating it if needed; refuses one that a live process holds. */
export async function lockDataDirectory(dataDir: string, { refreshMs = 10_000, staleMs = 30_000 }: LockOptions = {}): Promise<DataDirectoryLock> {
  const directory = resolve(dataDir);
  const path = join(directory, lockFileName);
  if (heldHere.has(directory)) refuse(directory, path, 'another database in this process');
  await mkdir(directory, { recursive: true });
  const me: LockOwner = currentProcess();
  for (let attempt = 0; ; attempt += 1) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
    }
    const { stale, owner } = await isStale(path, me, staleMs);
    if (!stale) refuse(directory, path, `process ${owner?.pid} on ${owner?.host}`);
    await rm(path, { force: true });
  }
  heldHere.add(directory);
  // The heartbeat lets a process on another host (or container) tell a live holder from a crashed one.
  const heartbeat = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, refreshMs);
  heartbeat.unref();
  return {
    path,
    async release() {
      clearInterval(heartbeat);
      heldHere.delete(directory);
      const owner = await readLockOwner(path);
      if (owner?.pid === me.pid && owner.host === me.host) await rm(path, { force: true });
    },
  };
}
