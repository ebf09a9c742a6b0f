// What the webhook tests share: a receiver on 127.0.0.1 that records each request and answers from a script.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export { delay, waitFor } from '../jobs/queue-harness.case.js';

/** One request the receiver got. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw body. */
  body: string;
}

/** How the receiver answers one request: a status (with headers), or `hang` to never answer. */
export type ReceiverAnswer = number | { status: number; headers?: Record<string, string> } | 'hang';

/** A running receiver. */
export interface Receiver {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  port: number;
  /** What it got, in order. */
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** Starts a receiver that answers its nth request with `answers[n]`, and the last answer from then on. */
export async function startReceiver(answers: ReceiverAnswer[]): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const answer = answers[Math.min(requests.length, answers.length - 1)] ?? 200;
    requests.push({ method: request.method ?? '', path: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString('utf8') });
    if (answer === 'hang') return void hanging.push(response);
    const { status, headers = {} } = typeof answer === 'number' ? { status: answer } : answer;
    response.writeHead(status, { 'Content-Type': 'text/plain', ...headers }).end(`answered ${status}`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: async () => {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
