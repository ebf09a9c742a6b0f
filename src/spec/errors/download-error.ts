// Fetching model files from a hub failed; the message names the repo, revision or file, the cause and the fix.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.download';
const symbol = Symbol.for(marker);

/** Why a download failed; safe to switch on. */
export type DownloadFailureReason =
  /** 401/403: the repo is gated or private (or absent) and the token is missing or lacks access. */
  | 'unauthorized'
  /** 404: the repo, revision or file does not exist. */
  | 'not-found'
  /** The bytes arrived but their SHA-256 or size differs from what the hub listed. */
  | 'integrity'
  /** Any other HTTP status; retryable for 5xx, 408 and 429. */
  | 'http'
  /** The connection failed or closed early; the partial file is kept so the next pull resumes. */
  | 'network';

export interface DownloadErrorOptions {
  /** Why it failed. */
  reason: DownloadFailureReason;
  /** Human-readable message naming the repo, revision or file and the fix. */
  message: string;
  /** Repository id on the hub, e.g. `stabilityai/sd-turbo`. */
  repoId: string;
  /** Revision asked for or resolved (branch, tag or commit sha), when known. */
  revision?: string;
  /** Path of the file inside the repository, when one file failed. */
  path?: string;
  /** HTTP status, when the hub answered. */
  statusCode?: number;
  /** The URL that failed. */
  url?: string;
  /** The underlying error. */
  cause?: unknown;
}

export class DownloadError extends PixelpipeError {
  private readonly [symbol] = true;
  /** Why it failed. */
  readonly reason: DownloadFailureReason;
  /** Repository id on the hub. */
  readonly repoId: string;
  /** Revision asked for or resolved, when known. */
  readonly revision: string | undefined;
  /** Path of the file inside the repository, when one file failed. */
  readonly path: string | undefined;
  /** HTTP status, when the hub answered. */
  readonly statusCode: number | undefined;
  /** The URL that failed. */
  readonly url: string | undefined;

  constructor({ reason, message, repoId, revision, path, statusCode, url, cause }: DownloadErrorOptions) {
    super({ name: 'DownloadError', message, cause, isRetryable: isRetryableFailure(reason, statusCode) });
    this.reason = reason;
    this.repoId = repoId;
    this.revision = revision;
    this.path = path;
    this.statusCode = statusCode;
    this.url = url;
  }

  static override isInstance(error: unknown): error is DownloadError {
    return PixelpipeError.hasMarker(error, marker);
  }
}

function isRetryableFailure(reason: DownloadFailureReason, statusCode: number | undefined): boolean {
  if (reason === 'network') return true;
  if (reason !== 'http' || statusCode === undefined) return false;
  return statusCode >= 500 || statusCode === 408 || statusCode === 429;
}
