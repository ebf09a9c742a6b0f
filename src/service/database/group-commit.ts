// Group commit: writes asked for while one batch commits go into the next batch, one transaction each.
//
// A transaction costs a round of BEGIN and COMMIT (on PostgreSQL a WAL flush, ~1–10 ms on a real
// disk) and, on PGlite, a turn of the one connection every other statement waits for. Under load,
// batching makes that once per batch instead of once per write, and each write still resolves only
// once its batch committed. Submissions, successes and blob notes use it; no library does this for
// our own statements, hence this file.

/** Writes a batch of items in one go, giving one result per item, in order. */
export type BatchWriter<Item, Result> = (items: Item[]) => Promise<Result[]>;

interface Waiting<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/** Collects items and writes them in batches, one batch at a time, in the order they came. */
export class GroupCommit<Item, Result> {
  readonly #write: BatchWriter<Item, Result>;
  readonly #maxBatch: number;
  #waiting: Waiting<Item, Result>[] = [];
  #writing = false;

  /** `write` commits a batch (all of it or none); `maxBatch` caps a batch's size. */
  constructor(write: BatchWriter<Item, Result>, { maxBatch = 256 }: { maxBatch?: number } = {}) {
    this.#write = write;
    this.#maxBatch = maxBatch;
  }

  /** Resolves with the item's result once its batch committed. */
  add(item: Item): Promise<Result> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#next();
    });
  }

  // A batch starts on the next turn of the event loop, not at once: a database that answers without
  // giving the loop a turn would otherwise make every batch one item long, while requests already
  // read from sockets wait behind it.
  #next(): void {
    if (this.#writing || this.#waiting.length === 0) return;
    this.#writing = true;
    setImmediate(() => {
      const batch = this.#waiting.splice(0, this.#maxBatch);
      void this.#commit(batch).finally(() => {
        this.#writing = false;
        this.#next();
      });
    });
  }

  async #commit(batch: Waiting<Item, Result>[]): Promise<void> {
    let results: Result[];
    try {
      results = await this.#write(batch.map(({ item }) => item));
    } catch (error) {
      // One item must not fail the others: alone, each gets its own answer.
      if (batch.length > 1) {
        for (const entry of batch) await this.#commit([entry]);
        return;
      }
      batch[0]!.reject(error);
      return;
    }
    batch.forEach((entry, index) => entry.resolve(results[index]!));
  }
}
