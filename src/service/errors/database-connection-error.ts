// The database server could not be reached or refused the login; the message names the setting, the URL (password hidden), why and the fix.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.database-connection';
const symbol = Symbol.for(marker);

/** Why the connection failed; safe to switch on. */
export type DatabaseConnectionFailure =
  /** Nothing answered: refused, timed out, host not found or unreachable. */
  | 'unreachable'
  /** The server answered but refused the user or password. */
  | 'authentication'
  /** The server has no database of the URL's name. */
  | 'database-missing';

export interface DatabaseConnectionErrorOptions {
  /** Why it failed. */
  failure: DatabaseConnectionFailure;
  /** Where the URL came from, e.g. `PIXELPIPE_DATABASE_URL`. */
  setting: string;
  /** The connection URL with its password replaced by `***`. */
  url: string;
  /** What went wrong, in words: "the connection to 127.0.0.1:1 was refused". */
  reason: string;
  /** What to do about it. */
  fix: string;
  /** The driver's error. */
  cause?: unknown;
}

export class DatabaseConnectionError extends PixelpipeError {
  private readonly [symbol] = true;
  /** Why it failed. */
  readonly failure: DatabaseConnectionFailure;
  /** Where the URL came from, e.g. `PIXELPIPE_DATABASE_URL`. */
  readonly setting: string;
  /** The connection URL with its password hidden. */
  readonly url: string;

  constructor({ failure, setting, url, reason, fix, cause }: DatabaseConnectionErrorOptions) {
    // A server that is down may come up; a wrong password or a missing database will not fix itself.
    super({ name: 'DatabaseConnectionError', message: `cannot connect to the database ${setting}=${url}: ${reason}; ${fix}`, cause, isRetryable: failure === 'unreachable' });
    this.failure = failure;
    this.setting = setting;
    this.url = url;
  }

  static override isInstance(error: unknown): error is DatabaseConnectionError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
