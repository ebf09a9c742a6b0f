// The ComfyUI websocket, opened before a prompt is queued: its messages become the prompt's start, progress, previews, error and end.
import WebSocket from 'ws';
import { binaryPreviewImage, executionErrorSchema, previewFormats, progressDataSchema, socketMessageSchema } from './comfyui-api.js';

export type ExecutionError = ReturnType<typeof executionErrorSchema.parse>;

/** What the socket reported, in order; `promptId` is set when the message names its prompt. */
export type SocketEvent = { promptId?: string } & (
  | { kind: 'start' }
  | { kind: 'progress'; step: number; steps: number }
  | { kind: 'preview'; bytes: Uint8Array; mediaType: string }
  | { kind: 'done' }
  | { kind: 'error'; error: ExecutionError }
  | { kind: 'interrupted' }
  | { kind: 'closed' }
);

export class ComfyUISocket {
  private readonly events: SocketEvent[] = [];
  private wake: (() => void) | undefined;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data, isBinary) => this.receive(data, isBinary));
    socket.on('close', () => this.push({ kind: 'closed' }));
    socket.on('error', () => this.push({ kind: 'closed' }));
  }

  /**
   * Connects to `url` (`ws(s)://host/ws?clientId=...`). Undefined when the server does not answer as a websocket
   * in time (a proxy that drops upgrades, an old server): the caller then polls /history instead.
   */
  static open(url: string, headers: Record<string, string>, signal: AbortSignal, timeoutMs: number): Promise<ComfyUISocket | undefined> {
    return new Promise((resolve) => {
      const socket = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
      let settled = false;
      const settle = (value: ComfyUISocket | undefined) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (value === undefined) socket.terminate();
        resolve(value);
      };
      const onAbort = () => settle(undefined);
      signal.addEventListener('abort', onAbort, { once: true });
      socket.on('error', () => settle(undefined));
      socket.once('open', () => {
        socket.removeAllListeners('error');
        settle(new ComfyUISocket(socket));
      });
    });
  }

  /** The next event; waits for one, and rejects when `signal` aborts. */
  async next(signal: AbortSignal): Promise<SocketEvent> {
    while (this.events.length === 0) {
      signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        this.wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      this.wake = undefined;
    }
    return this.events.shift()!;
  }

  close(): void {
    this.socket.removeAllListeners();
    // Errors after closing (a reset connection) have no one to report to.
    this.socket.on('error', () => undefined);
    this.socket.terminate();
  }

  private push(event: SocketEvent): void {
    this.events.push(event);
    this.wake?.();
  }

  private receive(data: WebSocket.RawData, isBinary: boolean): void {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    if (isBinary) {
      // Event type, then (for previews) the image format, each a big-endian uint32, then the image.
      if (bytes.length > 8 && bytes.readUInt32BE(0) === binaryPreviewImage) {
        const mediaType = previewFormats[bytes.readUInt32BE(4)];
        if (mediaType) this.push({ kind: 'preview', bytes: new Uint8Array(bytes.subarray(8)), mediaType });
      }
      return;
    }
    let json: unknown;
    try {
      json = JSON.parse(bytes.toString('utf8'));
    } catch {
      return;
    }
    const message = socketMessageSchema.safeParse(json);
    if (!message.success) return;
    const { type, data: fields } = message.data;
    const promptId = typeof fields.prompt_id === 'string' ? fields.prompt_id : undefined;
    const tagged = promptId === undefined ? {} : { promptId };
    if (type === 'execution_start') this.push({ kind: 'start', ...tagged });
    else if (type === 'progress') {
      const progress = progressDataSchema.safeParse(fields);
      if (progress.success) this.push({ kind: 'progress', step: progress.data.value, steps: progress.data.max, ...tagged });
    } else if ((type === 'executing' && fields.node === null) || type === 'execution_success') this.push({ kind: 'done', ...tagged });
    else if (type === 'execution_error') this.push({ kind: 'error', error: executionErrorSchema.safeParse(fields).data ?? {}, ...tagged });
    else if (type === 'execution_interrupted') this.push({ kind: 'interrupted', ...tagged });
  }
}
