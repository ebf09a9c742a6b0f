// What every route of the HTTP API shares: the service, the caller's API key, and the server's options.
import type { ApiKeyInfo, ImageService } from '../../service/image-service-types.js';

/** Options of the HTTP app. */
export interface HttpAppOptions {
  /** The service the routes call. */
  service: ImageService;
  /** Secret blob download URLs are signed with (`response_format: url` without S3 presigning). */
  urlSigningSecret: string;
  /** The URL clients reach this server at, for URLs in responses; from the request's Host header when absent. */
  publicUrl?: string;
  /** How long signed blob URLs stay valid, in seconds. Default 3600. */
  urlExpirySeconds?: number;
  /** Injected clock (ms since epoch), for tests of expiry. */
  now?: () => number;
  /** Every caller is the operator (the admin socket, whose file permissions are its authentication): no API key is asked for, and nothing is scoped to one. */
  trusted?: boolean;
  /** `POST /v1/models/pull` pulls models for admin API keys (`serve --allow-pull`); without it that route answers 403 and nothing reaches the hub. Default false. */
  allowModelPull?: boolean;
  /** The folder of the built web UI (index.html, assets/); `dist/web` of this package when absent, `false` for no UI at `/`. */
  webRoot?: string | false;
}

/** Hono's environment type for this app: what middleware puts on the context. */
export interface HttpEnv {
  Variables: {
    /** The authenticated key; absent when the server runs without keys. */
    apiKey: ApiKeyInfo | undefined;
  };
}

/** Whose jobs and records a caller sees: an ordinary key its own, an admin key (and a server without keys) everyone's. */
export function ownerScope(key: ApiKeyInfo | undefined): string | undefined {
  return key && !key.admin ? key.id : undefined;
}
