// A local HTTP server that answers like a hosted image API: scripted responses per route, every request recorded.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface RecordedApiRequest {
  method: string;
  /** Path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The body parsed as JSON, when it is JSON. */
  json?: any;
  /** The body parsed as multipart form data, when it is. */
  form?: FormData;
}

export interface MockResponse {
  status?: number;
  headers?: Record<string, string>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is (malformed JSON, image bytes). */
  body?: string | Uint8Array;
  /** Wait this long before answering (or until the client goes away). */
  delayMs?: number;
}

/** A fixed answer, or one computed from the request (and how many times this route was hit before). */
export type MockHandler = MockResponse | ((request: RecordedApiRequest, hit: number) => MockResponse | Promise<MockResponse>);

export interface MockApiServer {
  url: string;
  requests: RecordedApiRequest[];
  /** Requests to one route, in order. */
  requestsTo(method: string, path: string): RecordedApiRequest[];
  /**
   * Answers `method path` (path may end in `*` for a prefix) with `handlers` in turn; the last one
   * repeats. A later `route` for the same key replaces the earlier one.
   */
  route(method: string, path: string, ...handlers: MockHandler[]): void;
  close(): Promise<void>;
}

export async function startMockApiServer(): Promise<MockApiServer> {
  const routes = new Map<string, { handlers: MockHandler[]; hits: number }>();
  const requests: RecordedApiRequest[] = [];
  const find = (method: string, path: string) => {
    const exact = routes.get(`${method} ${path}`);
    if (exact) return exact;
    const prefixes = [...routes.entries()].filter(([key]) => key.endsWith('*') && `${method} ${path}`.startsWith(key.slice(0, -1)));
    return prefixes.sort(([a], [b]) => b.length - a.length)[0]?.[1];
  };
  const server = createServer(async (incoming, outgoing) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(incoming.url ?? '/', 'http://localhost');
    const contentType = String(incoming.headers['content-type'] ?? '');
    const request: RecordedApiRequest = { method: incoming.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: incoming.headers, body };
    if (contentType.includes('application/json')) {
      try {
        request.json = JSON.parse(body.toString('utf8'));
      } catch {
        request.json = undefined;
      }
    } else if (contentType.includes('multipart/form-data')) {
      request.form = await new Response(body, { headers: { 'content-type': contentType } }).formData();
    }
    requests.push(request);
    const route = find(request.method, request.path);
    if (!route) {
      outgoing.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no mock route for ${request.method} ${request.path}` } }));
      return;
    }
    const handler = route.handlers[Math.min(route.hits, route.handlers.length - 1)]!;
    const hit = route.hits;
    route.hits += 1;
    const response = typeof handler === 'function' ? await handler(request, hit) : handler;
    if (response.delayMs) {
      const closed = new Promise<void>((resolve) => outgoing.on('close', () => resolve()));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, response.delayMs))), closed]);
      clearTimeout(timer);
      if (outgoing.destroyed) return;
    }
    const headers: Record<string, string> = { ...response.headers };
    let payload: string | Uint8Array = '';
    if (response.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      payload = JSON.stringify(response.json);
    } else if (response.body !== undefined) payload = response.body;
    outgoing.writeHead(response.status ?? 200, headers).end(payload);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    requestsTo: (method, path) => requests.filter((request) => request.method === method && request.path === path),
    route(method, path, ...handlers) {
      routes.set(`${method} ${path}`, { handlers, hits: 0 });
    },
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A small real image in the given format, coloured so tests can tell images apart. */
export async function testImage(format: 'png' | 'jpeg' | 'webp' = 'png', width = 64, height = 64, colour: { r: number; g: number; b: number } = { r: 200, g: 80, b: 40 }): Promise<Uint8Array> {
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background: colour } })[format]().toBuffer());
}

/** Sleeps nothing but records the delays asked for: backoff is asserted without waiting. */
export function recordingSleep(): { sleep: (milliseconds: number, signal?: AbortSignal) => Promise<void>; delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (milliseconds, signal) => {
      delays.push(milliseconds);
      signal?.throwIfAborted();
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}
