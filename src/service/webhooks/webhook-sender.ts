// Sends one webhook POST with node's http/https: redirects not followed, a deadline, and the guarded lookup unless private destinations are allowed.
import http from 'node:http';
import https from 'node:https';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { lookup as guardedLookup, type ConnectLookup } from './webhook-destination.js';
import { WebhookDeliveryError } from './webhook-delivery-error.js';

/** One POST to make. */
export interface WebhookRequest {
  /** The destination, already checked. */
  url: string;
  /** Headers to send; `Content-Length` is added. */
  headers: Record<string, string>;
  /** The body, sent as UTF-8. */
  body: string;
  /** Longest wait for the response's status line, connecting included, in milliseconds. */
  timeoutMs: number;
  /** Aborts the request (the worker stopped, or the attempt expired). */
  signal?: AbortSignal;
}

/** What came back; the response body is read and dropped. */
export interface WebhookResponse {
  /** The HTTP status. */
  statusCode: number;
  /** The `Location` header, for a redirect that was not followed. */
  location?: string;
}

/**
 * Makes one webhook POST and gives back the status. Rejects when no status arrives: an error with
 * `isRetryable: false` (a refused destination) must not be tried again; any other may be.
 */
export type WebhookSender = (request: WebhookRequest) => Promise<WebhookResponse>;

/** Settings of the default sender. */
export interface WebhookSenderConfig {
  /** Skip the connect-time address check (PIXELPIPE_WEBHOOK_ALLOW_PRIVATE). Default false. */
  allowPrivate?: boolean;
  /** The connect-time lookup; default the guarded one, or the system's when `allowPrivate`. */
  lookup?: ConnectLookup;
}

/** The sender the dispatcher uses unless a test injects another. */
export function createWebhookSender({ allowPrivate = false, lookup = allowPrivate ? undefined : guardedLookup }: WebhookSenderConfig = {}): WebhookSender {
  return ({ url, headers, body, timeoutMs, signal }) =>
    new Promise<WebhookResponse>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const target = new URL(url);
      const transport = target.protocol === 'https:' ? https : http;
      // agent: false gives each attempt its own connection, so every one goes through the lookup.
      const request = transport.request(target, { method: 'POST', headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) }, agent: false, ...(lookup ? { lookup } : {}) }, (response) => {
        resolve({ statusCode: response.statusCode ?? 0, ...(response.headers.location ? { location: response.headers.location } : {}) });
        // The timer keeps running while the body drains, so a receiver that never ends it is cut off.
        response.on('error', () => undefined);
        response.on('close', cleanup);
        response.resume();
      });
      const timer = setTimeout(() => request.destroy(new WebhookDeliveryError({ message: `${url} did not answer within ${timeoutMs} ms`, url, isRetryable: true })), timeoutMs);
      const onAbort = () => request.destroy(signal!.reason instanceof Error ? signal!.reason : new Error(String(signal!.reason)));
      signal?.addEventListener('abort', onAbort, { once: true });
      function cleanup() {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      }
      request.on('error', (error) => {
        cleanup();
        if (PixelpipeError.isInstance(error)) reject(error);
        else if (signal?.aborted) reject(signal.reason);
        else reject(new WebhookDeliveryError({ message: `could not reach ${url}: ${error.message}`, url, isRetryable: true, cause: error }));
      });
      request.end(body);
    });
}
