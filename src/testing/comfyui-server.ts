// A local server that answers like ComfyUI: /prompt, /history, /view, /queue, /interrupt over HTTP, and the /ws
// websocket (status, execution_start, progress with binary preview frames, executing null), every request recorded.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { WebSocketServer, type WebSocket } from 'ws';
import { testImage } from './mock-api-server.js';

export interface RecordedComfyRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  json?: any;
}

export interface FakeComfyUI {
  url: string;
  requests: RecordedComfyRequest[];
  requestsTo(method: string, path: string): RecordedComfyRequest[];
  /** Client ids that opened the websocket, in order. */
  socketClients: string[];
  /** Answers for the next POST /prompt requests, used up before the normal behaviour. */
  promptAnswers: { status: number; json: unknown }[];
  /** Prompts stop after their first progress message and stay running. */
  hold: boolean;
  /** GET /history answers `{}` this many times for each prompt before listing it. */
  pendingPolls: number;
  /** The next prompt fails at this node with this message (execution_error). */
  failNext?: { node_id: string; node_type: string; exception_message: string };
  close(): Promise<void>;
}

/** `websocket: false` answers upgrades with 404, like a proxy that does not pass websockets. */
export async function startFakeComfyUI({ websocket = true }: { websocket?: boolean } = {}): Promise<FakeComfyUI> {
  const requests: RecordedComfyRequest[] = [];
  const sockets = new Map<string, WebSocket>();
  const history = new Map<string, unknown>();
  const polls = new Map<string, number>();
  const files = new Map<string, { width: number; height: number; colour: number }>();
  let prompts = 0;
  const fake: FakeComfyUI = {
    url: '',
    requests,
    requestsTo: (method, path) => requests.filter((request) => request.method === method && request.path === path),
    socketClients: [],
    promptAnswers: [],
    hold: false,
    pendingPolls: 0,
    close: async () => {
      for (const socket of sockets.values()) socket.terminate();
      webSockets.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  /** Runs a prompt the way ComfyUI reports it to the client that queued it. */
  const execute = async (promptId: string, workflow: Record<string, { class_type: string; inputs: Record<string, any> }>, clientId: string | undefined) => {
    const socket = clientId === undefined ? undefined : sockets.get(clientId);
    const send = (type: string, data: unknown) => socket?.send(JSON.stringify({ type, data }));
    const nodes = Object.entries(workflow);
    const sampler = nodes.find(([, node]) => node.class_type.startsWith('KSampler'));
    const latent = nodes.find(([, node]) => node.class_type.endsWith('LatentImage'))?.[1].inputs ?? { width: 1024, height: 1024, batch_size: 1 };
    const steps = Number(sampler?.[1].inputs.steps ?? 20);
    send('status', { status: { exec_info: { queue_remaining: 1 } } });
    send('execution_start', { prompt_id: promptId, timestamp: Date.now() });
    send('execution_cached', { nodes: [], prompt_id: promptId, timestamp: Date.now() });
    send('executing', { node: sampler?.[0] ?? '3', display_node: sampler?.[0] ?? '3', prompt_id: promptId });
    // Without a listener nothing is awaited, so the prompt is in the history before the client's first poll.
    const preview = socket ? await sharp({ create: { width: 16, height: 24, channels: 3, background: { r: 90, g: 90, b: 200 } } }).jpeg().toBuffer() : Buffer.alloc(0);
    const header = Buffer.alloc(8);
    header.writeUInt32BE(1, 0);
    header.writeUInt32BE(1, 4);
    for (const value of fake.hold ? [1] : [1, steps]) {
      send('progress', { value, max: steps, prompt_id: promptId, node: sampler?.[0] ?? '3' });
      socket?.send(Buffer.concat([header, preview]));
    }
    if (fake.hold) return;
    const failure = fake.failNext;
    fake.failNext = undefined;
    if (failure) {
      history.set(promptId, { prompt: [0, promptId, workflow, {}, []], outputs: {}, status: { status_str: 'error', completed: false, messages: [['execution_start', { prompt_id: promptId }], ['execution_error', { prompt_id: promptId, ...failure, exception_type: 'RuntimeError' }]] } });
      send('execution_error', { prompt_id: promptId, ...failure, exception_type: 'RuntimeError', traceback: [], executed: [] });
      return;
    }
    const saveId = nodes.find(([, node]) => node.class_type === 'SaveImage')?.[0] ?? '9';
    const images = Array.from({ length: Number(latent.batch_size ?? 1) }, (_, index) => {
      const filename = `pixelpipe_${String(files.size + 1).padStart(5, '0')}_.png`;
      files.set(filename, { width: Math.max(1, Math.round(Number(latent.width) / 16)), height: Math.max(1, Math.round(Number(latent.height) / 16)), colour: 40 * index });
      return { filename, subfolder: '', type: 'output' };
    });
    history.set(promptId, { prompt: [0, promptId, workflow, { client_id: clientId }, [saveId]], outputs: { [saveId]: { images } }, status: { status_str: 'success', completed: true, messages: [['execution_start', { prompt_id: promptId }], ['execution_success', { prompt_id: promptId }]] } });
    send('executed', { node: saveId, display_node: saveId, output: { images }, prompt_id: promptId });
    send('execution_success', { prompt_id: promptId, timestamp: Date.now() });
    send('executing', { node: null, prompt_id: promptId });
  };

  const readJson = async (incoming: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text === '' ? undefined : JSON.parse(text);
  };

  const server = createServer(async (incoming, outgoing) => {
    const url = new URL(incoming.url ?? '/', 'http://localhost');
    const request: RecordedComfyRequest = { method: incoming.method ?? 'GET', path: url.pathname, query: url.searchParams, json: await readJson(incoming) };
    requests.push(request);
    const json = (status: number, body: unknown) => outgoing.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.method === 'POST' && request.path === '/prompt') {
      const scripted = fake.promptAnswers.shift();
      if (scripted) return json(scripted.status, scripted.json);
      prompts += 1;
      const promptId = `prompt-${prompts}`;
      json(200, { prompt_id: promptId, number: prompts, node_errors: {} });
      setImmediate(() => void execute(promptId, request.json.prompt, request.json.client_id));
      return;
    }
    if (request.method === 'GET' && request.path.startsWith('/history/')) {
      const promptId = decodeURIComponent(request.path.slice('/history/'.length));
      const seen = (polls.get(promptId) ?? 0) + 1;
      polls.set(promptId, seen);
      return json(200, seen > fake.pendingPolls && history.has(promptId) ? { [promptId]: history.get(promptId) } : {});
    }
    if (request.method === 'GET' && request.path === '/view') {
      const file = files.get(url.searchParams.get('filename') ?? '');
      if (!file || url.searchParams.get('type') !== 'output') return json(404, { error: 'not found' });
      return outgoing.writeHead(200, { 'content-type': 'image/png' }).end(await testImage('png', file.width, file.height, { r: 200, g: file.colour, b: 40 }));
    }
    if (request.method === 'GET' && request.path === '/queue') return json(200, { queue_running: [], queue_pending: [] });
    if (request.method === 'POST' && (request.path === '/queue' || request.path === '/interrupt')) return outgoing.writeHead(200).end();
    json(404, { error: `no route for ${request.method} ${request.path}` });
  });

  const webSockets = new WebSocketServer({ noServer: true });
  server.on('upgrade', (incoming, socket, head) => {
    const url = new URL(incoming.url ?? '/', 'http://localhost');
    if (!websocket || url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    webSockets.handleUpgrade(incoming, socket, head, (client) => {
      const clientId = url.searchParams.get('clientId') ?? 'anonymous';
      fake.socketClients.push(clientId);
      sockets.set(clientId, client);
      client.on('close', () => sockets.delete(clientId));
      client.send(JSON.stringify({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: clientId } }));
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}
