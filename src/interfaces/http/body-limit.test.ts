// The body limit on real HTTP: small bodies read ahead into Hono's cache, large and chunked ones through Hono's own middleware.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { nodeBodyLimit } from './body-limit.js';

const maxSize = 2 * 1024 * 1024;

describe('body limit', () => {
  let server: ServerType;
  let port: number;
  before(async () => {
    const app = new Hono();
    // As the service's: the unread rest of a refused body must not be taken for the connection's next request.
    app.use('*', nodeBodyLimit({ maxSize, onError: (context) => (context.header('Connection', 'close'), context.json({ error: 'too large' }, 413)) }));
    app.post('/json', async (context) => context.json({ got: await context.req.json(), bytes: (await context.req.arrayBuffer()).byteLength }));
    app.post('/bytes', async (context) => context.json({ bytes: (await context.req.arrayBuffer()).byteLength }));
    app.post('/form', async (context) => {
      const form = await context.req.parseBody();
      return context.json({ name: form.name, file: form.file instanceof File ? (await form.file.arrayBuffer()).byteLength : null });
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise((resolve) => server.once('listening', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  // node:http, so the test chooses between a declared length and chunks.
  const send = (path: string, body: Buffer, { chunked = false, contentType = 'application/json' } = {}) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const headers: Record<string, string | number> = { 'content-type': contentType, ...(chunked ? {} : { 'content-length': body.length }) };
      const outgoing = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
      });
      outgoing.on('error', reject);
      if (chunked) {
        for (let offset = 0; offset < body.length; offset += 64 * 1024) outgoing.write(body.subarray(offset, offset + 64 * 1024));
        outgoing.end();
      } else outgoing.end(body);
    });

  test('a small JSON body reads as JSON and as bytes', async () => {
    const body = Buffer.from(JSON.stringify({ prompt: 'a lighthouse', n: 2 }));
    assert.deepEqual(await send('/json', body), { status: 200, body: { got: { prompt: 'a lighthouse', n: 2 }, bytes: body.length } });
  });

  test('a chunked body reads whole under the limit and is refused over it', async () => {
    assert.deepEqual(await send('/bytes', Buffer.alloc(300 * 1024, 1), { chunked: true }), { status: 200, body: { bytes: 300 * 1024 } });
    assert.deepEqual(await send('/bytes', Buffer.alloc(maxSize + 1, 1), { chunked: true }), { status: 413, body: { error: 'too large' } });
  });

  test('a declared length over the read-ahead size reaches the handler whole; over the limit it is refused before it is read', async () => {
    assert.deepEqual(await send('/bytes', Buffer.alloc(1024 * 1024 + 5, 2)), { status: 200, body: { bytes: 1024 * 1024 + 5 } });
    assert.deepEqual(await send('/bytes', Buffer.alloc(maxSize + 1, 2)), { status: 413, body: { error: 'too large' } });
  });

  test('a multipart form read ahead still parses into fields and files', async () => {
    const form = new FormData();
    form.set('name', 'lighthouse');
    form.set('file', new Blob([new Uint8Array(1000)]), 'image.png');
    const encoded = new Response(form);
    const body = Buffer.from(await encoded.arrayBuffer());
    assert.deepEqual(await send('/form', body, { contentType: encoded.headers.get('content-type')! }), { status: 200, body: { name: 'lighthouse', file: 1000 } });
  });
});
