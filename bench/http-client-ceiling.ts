// `node --import tsx bench/http-client-ceiling.ts`: the most a client on this machine can measure. A server that answers
// `POST /v1/jobs` with a constant 202 (Hono on @hono/node-server, as the service) runs in a child process; 64 clients
// send to it in a closed loop, once with `fetch` and once with node:http on keep-alive sockets, the way
// `bench/service-bench-client.ts` sends. Prints submissions/s and latency percentiles for each. A benchmark; it asserts nothing.
import { fork } from 'node:child_process';
import { Agent, request } from 'node:http';

if (process.argv[2] === 'server') {
  const { serve } = await import('@hono/node-server');
  const { Hono } = await import('hono');
  const app = new Hono();
  let made = 0;
  app.post('/v1/jobs', async (c) => {
    const body = (await c.req.json()) as { prompt: string };
    return c.json({ id: `job-${++made}`, state: 'queued', prompt: body.prompt }, 202);
  });
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => process.send!(info.port));
  process.on('disconnect', () => server.close());
} else {
  const child = fork(import.meta.filename, ['server'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (message) => resolve(message as number)));
  const url = `http://127.0.0.1:${port}/v1/jobs`;
  const agent = new Agent({ keepAlive: true });
  const viaHttp = (body: string) => new Promise<void>((resolve, reject) => {
    const outgoing = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      response.resume();
      response.on('end', resolve);
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
  const viaFetch = async (body: string) => void (await (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text());
  const clients = 64;
  for (const [name, send] of [['fetch', viaFetch], ['node:http', viaHttp]] as const) {
    for (const count of [2_000, 10_000]) {
      const latencies: number[] = [];
      let next = 0;
      const began = performance.now();
      await Promise.all(Array.from({ length: clients }, async () => {
        while (next < count) {
          const index = next++;
          const sent = performance.now();
          await send(JSON.stringify({ prompt: `a lighthouse at dusk, ${index}`, model: 'openai:gpt-image-1', size: '1024x1024' }));
          latencies.push(performance.now() - sent);
        }
      }));
      const seconds = (performance.now() - began) / 1000;
      latencies.sort((a, b) => a - b);
      const at = (fraction: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * fraction))]!.toFixed(1);
      console.log(`${name.padEnd(10)} ${String(count).padStart(6)} requests, ${clients} clients: ${(count / seconds).toFixed(0).padStart(6)}/s, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`);
    }
  }
  agent.destroy();
  child.disconnect();
}
