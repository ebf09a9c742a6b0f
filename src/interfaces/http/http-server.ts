// Serves the HTTP app on a Node socket, and closes it gently: requests in flight finish, event streams end cleanly.
import { chmod, rm } from 'node:fs/promises';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { Hono } from 'hono';

/** Options of `startHttpServer`. */
export interface HttpServerOptions {
  /** The app, from `createHttpApp`. */
  app: Pick<Hono<any>, 'fetch'>;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port; 0 picks any free one. Default 0. */
  port?: number;
  /**
   * Listen on this Unix socket instead of a port (the admin channel). It is made readable and
   * writable by its owner only, and removed on close; a stale socket file left by a dead server is replaced.
   */
  socketPath?: string;
  /** How long `close` waits for requests in flight before cutting their connections, in ms. Default 10 000. */
  closeTimeoutMs?: number;
}

/** A listening server. */
export interface HttpServer {
  /** `http://host:port`, with the port actually bound. */
  url: string;
  host: string;
  port: number;
  /** Stops listening, ends event streams, waits for other requests (up to `closeTimeoutMs`), then resolves. */
  close(): Promise<void>;
}

export async function startHttpServer({ app, host = '127.0.0.1', port = 0, socketPath, closeTimeoutMs = 10_000 }: HttpServerOptions): Promise<HttpServer> {
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new RangeError(`\`port\` must be a whole number from 0 to 65535, got ${port}`);
  // Event streams never finish by themselves, so they are remembered to be ended on close.
  const streams = new Set<ServerResponse>();
  const server = createAdaptorServer({
    fetch: async (request, bindings) => {
      const response = await app.fetch(request, bindings);
      const outgoing = bindings.outgoing as ServerResponse;
      if (response.headers.get('content-type')?.startsWith('text/event-stream')) {
        streams.add(outgoing);
        outgoing.once('close', () => streams.delete(outgoing));
      }
      return response;
    },
  }) as Server;
  // Sockets with the number of responses under way on each; Node's closeIdleConnections misses sockets that never sent a request.
  const sockets = new Map<Socket, number>();
  server.on('connection', (socket: Socket) => {
    sockets.set(socket, 0);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (incoming: IncomingMessage, outgoing: ServerResponse) => {
    const socket = incoming.socket;
    sockets.set(socket, (sockets.get(socket) ?? 0) + 1);
    outgoing.once('close', () => sockets.has(socket) && sockets.set(socket, sockets.get(socket)! - 1));
  });
  const closeIdle = () => {
    for (const [socket, busy] of sockets) if (busy === 0) socket.destroy();
  };

  // The caller checked that no live server answers on the socket; what is left is a dead one's file.
  if (socketPath) await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    const fail = (error: NodeJS.ErrnoException) => {
      const where = socketPath ?? `${host}:${port}`;
      const why = error.code === 'EADDRINUSE' && !socketPath ? `port ${port} on ${host} is already in use; pick another with --port, or 0 for any free one` : error.message;
      reject(new Error(`pixelpipe could not listen on ${where}: ${why}`, { cause: error }));
    };
    server.once('error', fail);
    const listening = () => {
      server.off('error', fail);
      resolve();
    };
    if (socketPath) server.listen(socketPath, listening);
    else server.listen(port, host, listening);
  });
  if (socketPath) {
    await chmod(socketPath, 0o600);
    server.once('close', () => void rm(socketPath, { force: true }));
    return { url: `unix:${socketPath}`, host: socketPath, port: 0, close: closer(server, streams, closeIdle, closeTimeoutMs) };
  }
  const bound = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;

  return { url: `http://${urlHost}:${bound}`, host, port: bound, close: closer(server, streams, closeIdle, closeTimeoutMs) };
}

// Stops listening, ends event streams, and closes connections as their last response finishes (all of them after the timeout).
function closer(server: Server, streams: Set<ServerResponse>, closeIdle: () => void, closeTimeoutMs: number): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      for (const stream of streams) stream.end();
      const sweep = setInterval(closeIdle, 25);
      const cut = setTimeout(() => server.closeAllConnections(), closeTimeoutMs);
      server.once('close', () => {
        clearInterval(sweep);
        clearTimeout(cut);
      });
      closeIdle();
    }));
}
