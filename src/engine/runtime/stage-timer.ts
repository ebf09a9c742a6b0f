// Per-stage wall times and the time spent inside session.run, to tell engine overhead from model time.

export class StageTimer {
  /** Milliseconds per stage name, summed over repeats. */
  readonly stages: Record<string, number> = {};
  /** Milliseconds of each session.run, per model name, in call order. */
  readonly runs: Record<string, number[]> = {};

  /** Times `work` under `stage`. */
  async measure<T>(stage: string, work: () => Promise<T> | T): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.add(stage, performance.now() - started);
    }
  }

  add(stage: string, milliseconds: number): void {
    this.stages[stage] = (this.stages[stage] ?? 0) + milliseconds;
  }

  /** Pass as an OnnxModel run listener. */
  readonly onRun = (modelName: string, milliseconds: number): void => {
    (this.runs[modelName] ??= []).push(milliseconds);
  };

  /** Adds another timer's stages and runs to this one (per-image timers into a per-call total). */
  absorb(other: StageTimer): void {
    for (const [stage, milliseconds] of Object.entries(other.stages)) this.add(stage, milliseconds);
    for (const [model, runs] of Object.entries(other.runs)) (this.runs[model] ??= []).push(...runs);
  }

  /** Sum of every session.run. */
  get sessionMilliseconds(): number {
    return Object.values(this.runs).flat().reduce((sum, value) => sum + value, 0);
  }
}
