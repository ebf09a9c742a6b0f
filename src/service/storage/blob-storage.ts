// The contract every blob store keeps: content-addressed image bytes, input images and masks.

/** What `put` stored: enough to record the blob and fetch it again. */
export interface StoredBlob {
  /** Where the blob lives, derived from its bytes: `sha256/ab/cd/<64 hex digits>.<extension>`. */
  key: string;
  /** SHA-256 of the bytes, `sha256:<64 hex digits>`. */
  sha256: string;
  /** Length of the bytes. */
  size: number;
  /** Media type the blob is served with, e.g. `image/png`. */
  mediaType: string;
}

/** A byte range; both ends are inclusive, as in an HTTP `Range` header. */
export interface ByteRange {
  /** Offset of the first byte, from 0. */
  start: number;
  /** Offset of the last byte, inclusive; past the end means up to the end. Default: the last byte. */
  end?: number;
}

/** Options of `put`. */
export interface PutOptions {
  /** Media type of the bytes; one of `knownMediaTypes`. Case and parameters (`; charset=...`) are ignored. */
  mediaType: string;
}

/** Options of `get`. */
export interface GetOptions {
  /** Read only these bytes. A start past the last byte is refused with an `InvalidArgumentError` naming `range`. */
  range?: ByteRange;
}

/** What `get` read. */
export interface BlobContent {
  /** The bytes read: the whole blob, or the range asked for. */
  bytes: Uint8Array;
  /** Length of the whole blob, also when only a range was read (for `Content-Range`). */
  size: number;
  /** Media type stored with the blob. */
  mediaType: string;
  /** The range read, inclusive, its end clamped to the last byte; present only when a range was asked for. */
  range?: { start: number; end: number };
}

/** What `head` found, without reading the bytes. */
export interface BlobHead {
  /** Length of the blob. */
  size: number;
  /** Media type stored with the blob. */
  mediaType: string;
  /** SHA-256 of the bytes, `sha256:<64 hex digits>`. */
  sha256: string;
}

/** Options of `url`. */
export interface UrlOptions {
  /** How long the URL works, in seconds, 1 to 604 800 (7 days, the longest S3 signs for). Default 3600. */
  expiresInSeconds?: number;
}

/**
 * A store of immutable blobs addressed by their SHA-256. Keys come only from `put`; every other
 * method refuses a key that is not of that form with an `InvalidArgumentError` naming `key`.
 */
export interface BlobStorage {
  /** Stores the bytes under a key derived from their SHA-256 and media type; bytes already stored are not written again. */
  put(bytes: Uint8Array, options: PutOptions): Promise<StoredBlob>;
  /** Reads a blob or a range of it; undefined when no blob has this key. */
  get(key: string, options?: GetOptions): Promise<BlobContent | undefined>;
  /** Size, media type and hash of a blob; undefined when no blob has this key. */
  head(key: string): Promise<BlobHead | undefined>;
  /** Removes a blob; removing a blob that is not there succeeds. */
  delete(key: string): Promise<void>;
  /** Every blob key starting with `prefix` (default: all), for sweeping blobs no record points to. */
  list(prefix?: string): AsyncIterable<string>;
  /** A URL that downloads the blob with a plain GET until it expires (S3: presigned); undefined where the store cannot make one. */
  url(key: string, options?: UrlOptions): Promise<string | undefined>;
  /** Releases connections; the store is not used afterwards. */
  close(): Promise<void>;
}
