// A worker's lanes: how many more jobs each may take now, and which ones the last claim found empty.
import { laneOf, localLane, type FetchedJob, type LaneRoom } from './job-claim.js';

/**
 * The limits of a worker's lanes and what it knows of their queues. A lane the last claim found
 * empty is "drained": a job of it finishing does not send another claim after nothing. A submit
 * here, or the next poll, forgets what is drained.
 */
export class Lanes {
  readonly #local: number;
  readonly #limits: Record<string, number>;
  readonly #drained = new Set<string>();
  // The lanes named in the claim that drained `*`: that claim held each of them to its own room, so
  // the drain says nothing of their queues, also once none of their jobs runs and they go unnamed.
  #namedWhenDrained = new Set<string>();

  /** `local`: jobs of the local lane at once; `limits`: of each other lane, with `*` for lanes not named. */
  constructor(local: number, limits: Record<string, number>) {
    this.#local = local;
    this.#limits = limits;
  }

  /**
   * Room per lane given the lanes of the jobs running now and of those whose outcome is being
   * written (none for a drained lane), and the most one claim should ask for. Outcomes being
   * written take no room up to a lane's limit of them; past it the database is behind, and each
   * one more takes a slot, so a worker never holds more than twice its limit of jobs.
   */
  room(runningLanes: Iterable<string>, settlingLanes: Iterable<string> = []): { room: LaneRoom; total: number } {
    const other = this.#drained.has('*') ? 0 : (this.#limits['*'] ?? 0);
    const lanes: Record<string, number> = { ...this.#limits, [localLane]: this.#local };
    delete lanes['*'];
    const limitOf = (lane: string) => (lane === localLane ? this.#local : (this.#limits[lane] ?? this.#limits['*'] ?? 0));
    const counted = (laneNames: Iterable<string>) => {
      const counts = new Map<string, number>();
      for (const lane of laneNames) counts.set(lane, (counts.get(lane) ?? 0) + 1);
      return counts;
    };
    const taken = counted(runningLanes);
    for (const [lane, count] of counted(settlingLanes)) taken.set(lane, (taken.get(lane) ?? 0) + Math.max(0, count - limitOf(lane)));
    for (const [lane, count] of taken) lanes[lane] = limitOf(lane) - count;
    if (this.#drained.has('*')) for (const lane of this.#namedWhenDrained) lanes[lane] ??= limitOf(lane);
    for (const lane of Object.keys(lanes)) if (this.#drained.has(lane)) lanes[lane] = 0;
    // At most as many as the largest room at once: a claim past it would only lock rows it cannot take.
    const total = Math.max(0, other, ...Object.values(lanes));
    return { room: { lanes, otherLanes: other }, total };
  }

  // A claim that saw fewer jobs than it could take got every job that could run in each lane it
  // asked for: a lane that got less than its room is empty for now, and so is every lane not
  // named (`*`) that got none.
  /** Notes what an exhausted claim (one that took every job it could) says about each lane's queue. */
  claimedAll(room: LaneRoom, jobs: FetchedJob[]): void {
    const taken = new Map<string, number>();
    for (const job of jobs) taken.set(laneOf(job.data), (taken.get(laneOf(job.data)) ?? 0) + 1);
    for (const [lane, free] of Object.entries(room.lanes)) if (free > 0 && (taken.get(lane) ?? 0) < free) this.#drained.add(lane);
    for (const [lane, count] of taken) if (!(lane in room.lanes) && count < room.otherLanes) this.#drained.add(lane);
    if (room.otherLanes > 0) {
      this.#drained.add('*');
      this.#namedWhenDrained = new Set(Object.keys(room.lanes));
    }
  }

  /** Whether a job of `lane` finishing is worth a claim: its lane may hold more. */
  mayHaveMore(lane: string): boolean {
    return !this.#drained.has(lane);
  }

  /**
   * Forgets what is drained: of `lanes` (jobs of them were submitted, so a lane not named in the
   * claim that drained `*` makes `*` worth a claim again), or of every lane (time passed, jobs came
   * from elsewhere, or a key's limit freed room in any lane).
   */
  forget(lanes?: Iterable<string>): void {
    if (lanes === undefined) return this.#drained.clear();
    for (const lane of lanes) {
      this.#drained.delete(lane);
      if (!this.#namedWhenDrained.has(lane)) this.#drained.delete('*');
    }
  }
}
