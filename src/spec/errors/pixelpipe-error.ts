// Base class of every error pixelpipe throws: a stable name, a cause, whether retrying can help.

const marker = 'pixelpipe.error';
const symbol = Symbol.for(marker);

export interface PixelpipeErrorOptions {
  /** Class name, stable across versions; safe to switch on. */
  name: string;
  /** Human-readable message naming the argument, its value and the fix. */
  message: string;
  /** The underlying error, when one exists. */
  cause?: unknown;
  /** True when the same call may succeed if repeated later. */
  isRetryable?: boolean;
}

export class PixelpipeError extends Error {
  private readonly [symbol] = true;
  /** True when the same call may succeed if repeated later. */
  readonly isRetryable: boolean;

  constructor({ name, message, cause, isRetryable = false }: PixelpipeErrorOptions) {
    super(message, { cause });
    this.name = name;
    this.isRetryable = isRetryable;
  }

  /** Works across package copies and realms, unlike `instanceof`. */
  static isInstance(error: unknown): error is PixelpipeError {
    return PixelpipeError.hasMarker(error, marker);
  }

  protected static hasMarker(error: unknown, markerName: string): boolean {
    const markerSymbol = Symbol.for(markerName);
    return typeof error === 'object' && error !== null && markerSymbol in error && (error as Record<symbol, unknown>)[markerSymbol] === true;
  }
}
