// The default memory budget of a generation: this machine's memory (or its container's limit) less what is loaded already.
import { totalmem } from 'node:os';

/** The machine's memory, or the cgroup limit of the container when that is lower. */
export function machineMemoryBytes(): number {
  const total = totalmem();
  const constrained = typeof process.constrainedMemory === 'function' ? process.constrainedMemory() : 0;
  return constrained && constrained > 0 && constrained < total ? constrained : total;
}

/**
 * What one generation may use when no budget is set: 90 % of the machine's memory (the rest for the
 * system), less what this process holds now, shared between `share` worker processes that may each
 * run a job at the same time.
 */
export function defaultMemoryBudget(share = 1): number {
  const available = machineMemoryBytes() * 0.9 - process.memoryUsage.rss();
  return Math.max(0, Math.floor(available / Math.max(1, share)));
}
