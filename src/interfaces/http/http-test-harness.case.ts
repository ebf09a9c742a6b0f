// Test helpers for the HTTP layer: the app on a real socket over the fake service, SSE parsing, test images.
import type { TestContext } from 'node:test';
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { createFakeImageService, type FakeImageService, type FakeImageServiceOptions } from '../../testing/fake-image-service.js';
import { createHttpApp } from './http-app.js';
import type { HttpAppOptions } from './http-env.js';
import type { HttpErrorBody } from './http-error.js';
import { startHttpServer, type HttpServer } from './http-server.js';

export interface TestServer {
  fake: FakeImageService;
  server: HttpServer;
  url: string;
  /** fetch against the server; `path` starts with `/`. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs JSON and gives back the response with its parsed body. */
  postJson(path: string, body: unknown, headers?: Record<string, string>): Promise<{ response: Response; body: any }>;
}

/** Starts the app over a fresh fake service; both are closed when the test ends. */
export async function startTestServer(t: TestContext, { fake: fakeOptions = {}, app: appOptions = {} }: { fake?: FakeImageServiceOptions; app?: Partial<HttpAppOptions> } = {}): Promise<TestServer> {
  const fake = createFakeImageService(fakeOptions);
  const app = createHttpApp({ service: fake, urlSigningSecret: 'test-signing-secret', ...appOptions });
  const server = await startHttpServer({ app, host: '127.0.0.1', port: 0, closeTimeoutMs: 2000 });
  t.after(async () => {
    await server.close();
    await fake.close();
  });
  const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
  return {
    fake,
    server,
    url: server.url,
    request,
    async postJson(path, body, headers = {}) {
      const response = await request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await response.text();
      return { response, body: text ? JSON.parse(text) : undefined };
    },
  };
}

/** One parsed server-sent event. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads a text/event-stream body until it ends (or `stopAfter` events), parsing events and skipping comments. */
export async function readSse(response: Response, { stopAfter = Infinity }: { stopAfter?: number } = {}): Promise<{ events: SseEvent[]; comments: string[] }> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let buffer = '';
  while (events.length < stopAfter) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1 && events.length < stopAfter) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments.push(line.slice(1).trim());
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('event: ')) event.event = line.slice(7);
      }
      if (data.length > 0 || event.event) events.push({ ...event, data: data.join('\n') });
    }
  }
  await reader.cancel().catch(() => {});
  return { events, comments };
}

/** A solid PNG of the given size, as base64. */
export async function pngBase64(width: number, height: number): Promise<string> {
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
  return png.toString('base64');
}

/** A decompression bomb: a valid PNG header claiming `side` × `side` pixels, in a few hundred bytes. */
export function decompressionBombPng(side = 20_000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, checksum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header[8] = 8; // bit depth; colour type 0 (grey) and the rest stay 0
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc((side + 1) * 8))), chunk('IEND', Buffer.alloc(0))]);
}

/** Asserts the one error shape and gives back its `error` object. */
export function errorOf(body: unknown): HttpErrorBody['error'] {
  const error = (body as HttpErrorBody | undefined)?.error;
  if (!error || typeof error.message !== 'string' || typeof error.type !== 'string' || typeof error.code !== 'string' || !('param' in error)) {
    throw new Error(`expected { error: { message, type, param, code } }, got ${JSON.stringify(body)}`);
  }
  return error;
}
