// Tells whether a process on this host is still the one that wrote a lock or worker row: alive, not a zombie, not a reused pid.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** Who this process is, as lock files and worker rows record it. */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Start time of the process (Linux: clock ticks since boot); undefined where /proc is not there. */
  start: string | undefined;
}

// Fields of /proc/PID/stat after the command name, which is in parentheses and may itself hold spaces or parentheses.
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

const hasProc = statFields(process.pid) !== undefined;

/** The start time of `pid` (field 22 of /proc/PID/stat), or undefined. */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

/** This process. */
export function currentProcess(): ProcessIdentity {
  return { host: hostname(), pid: process.pid, start: processStartTime(process.pid) };
}

/**
 * Whether `owner` (on this host) still runs. A zombie (killed but not yet reaped by its parent) is
 * dead, and so is a live process whose start time differs: its pid was given to another process.
 */
export function isProcessAlive(owner: { pid: number; start?: string | null }): boolean {
  if (hasProc) {
    const fields = statFields(owner.pid);
    if (!fields) return false;
    if (fields[0] === 'Z' || fields[0] === 'X') return false;
    return !owner.start || fields[19] === owner.start;
  }
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
