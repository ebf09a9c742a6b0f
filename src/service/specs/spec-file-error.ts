// A project file, spec file, data file or lockfile that cannot be used; the message names the file, line, field, value and the fix.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.spec-file';
const symbol = Symbol.for(marker);

export interface SpecFileErrorOptions {
  /** The file, relative to the project folder where it lies inside it: `specs/hero.yaml`. */
  file: string;
  /** 1-based line of the offending node, when known. */
  line?: number;
  /** Where in the file, as written: `specs[0].size`, `output.path`. */
  field?: string;
  /** The refused value, as read. */
  value?: unknown;
  /** What is wrong, in words: `"1200×628" is not a size`. */
  problem: string;
  /** What to do about it: `write WxH such as 1200x628`. */
  fix: string;
  cause?: unknown;
}

export class SpecFileError extends PixelpipeError {
  private readonly [symbol] = true;
  readonly file: string;
  readonly line?: number;
  readonly field?: string;
  readonly value?: unknown;
  readonly problem: string;
  readonly fix: string;

  constructor({ file, line, field, value, problem, fix, cause }: SpecFileErrorOptions) {
    const where = line === undefined ? file : `${file}:${line}`;
    const message = field === undefined ? `${where}: ${problem}; ${fix}` : `${where}: ${field}: ${problem}; ${fix}`;
    super({ name: 'SpecFileError', message, cause, isRetryable: false });
    this.file = file;
    this.line = line;
    this.field = field;
    this.value = value;
    this.problem = problem;
    this.fix = fix;
  }

  static override isInstance(error: unknown): error is SpecFileError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
