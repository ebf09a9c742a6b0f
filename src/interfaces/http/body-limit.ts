// The request body, read once from Node's socket and capped in size.
//
// Why not hono/body-limit alone: it reads through `c.req.raw.body`, which makes @hono/node-server
// build a whole web Request and stream for each request that has a body. In a CPU profile of a burst
// of `POST /v1/jobs` that was 8.6 % of the server's thread, more than all its JSON validation.
// Here the bytes come straight from the IncomingMessage into Hono's body cache, which `req.json()`,
// `req.arrayBuffer()` and the validators read. Only small bodies of a declared length take this way
// (JSON requests); uploads, bodies without a length and other adapters than Node's go through Hono's
// middleware as before, so nothing large is buffered before the handler (and its key check) asks.
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';

// Up to this many bytes a body is read ahead of the handler.
const readAhead = 1024 * 1024;
const textTypes = /^(application\/([\w.-]+\+)?json|text\/)/i;

/** Reads the body of each request into `c.req`'s body cache, or answers `onError` once it passes `maxSize` bytes. */
export function nodeBodyLimit({ maxSize, onError }: { maxSize: number; onError: (context: Context) => Response | Promise<Response> }): MiddlewareHandler {
  const portable = bodyLimit({ maxSize, onError });
  return async (context, next) => {
    const incoming = (context.env as { incoming?: IncomingMessage } | undefined)?.incoming;
    if (!incoming) return portable(context, next);
    const { method } = context.req;
    if (method === 'GET' || method === 'HEAD') return next();
    const declared = incoming.headers['content-length'];
    if (declared === undefined || incoming.headers['transfer-encoding'] || Number(declared) > readAhead) return portable(context, next);
    const body = await readCapped(incoming, maxSize);
    if (!body) return onError(context);
    const cache = context.req.bodyCache as Record<string, Promise<unknown>>;
    // The bytes first: Hono derives a form it has not cached from the first one it has.
    cache.arrayBuffer = Promise.resolve(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer);
    if (textTypes.test(incoming.headers['content-type'] ?? '')) cache.text = Promise.resolve(body.toString('utf8'));
    return next();
  };
}

// The body, or undefined once it passes `maxSize`. The socket is not destroyed then: the answer still
// has to go out on it (with `Connection: close`).
function readCapped(incoming: IncomingMessage, maxSize: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxSize) {
        done();
        incoming.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      done();
      reject(error);
    };
    const done = () => {
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
    };
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
  });
}
