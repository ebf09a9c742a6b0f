// The HTTP API as the UI calls it: the stored API key as a bearer token, errors as ApiError, job events over fetch.
import type { ApiErrorBody, ImageRecord, JobEventName, JobSubmit, JobView, ModelList, RecordPage } from './api-types.js';

const keyStorage = 'pixelpipe.apiKey';

/** An error answer of the API (or of the network), with the field it names. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string = 'unknown',
  ) {
    super(message);
  }
}

export function storedKey(): string | undefined {
  try {
    return localStorage.getItem(keyStorage) ?? undefined;
  } catch {
    return undefined;
  }
}

export function storeKey(key: string | undefined): void {
  if (key) localStorage.setItem(keyStorage, key);
  else localStorage.removeItem(keyStorage);
}

/** Called on every 401, so the app can ask for a key. */
let onUnauthorized: (error: ApiError) => void = () => undefined;
export function setUnauthorizedHandler(handler: (error: ApiError) => void): void {
  onUnauthorized = handler;
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const key = storedKey();
  return { ...extra, ...(key ? { Authorization: `Bearer ${key}` } : {}) };
}

async function failure(response: Response): Promise<ApiError> {
  let body: Partial<ApiErrorBody> | undefined;
  try {
    body = (await response.json()) as ApiErrorBody;
  } catch {
    body = undefined;
  }
  const error = body?.error
    ? new ApiError(response.status, body.error.message, body.error.param, body.error.code)
    : new ApiError(response.status, `the server answered ${response.status} ${response.statusText}`);
  if (response.status === 401) onUnauthorized(error);
  return error;
}

async function call(path: string, init: RequestInit = {}): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: headers(init.headers as Record<string, string> | undefined) });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(0, `the server cannot be reached (${(error as Error).message}); is \`pixelpipe serve\` still running?`, null, 'network_error');
  }
  if (!response.ok) throw await failure(response);
  return response;
}

async function json<T>(path: string, init?: RequestInit): Promise<T> {
  return (await (await call(path, init)).json()) as T;
}

export const api = {
  models: () => json<ModelList>('/v1/models'),
  rankers: () => json<{ data: { name: string }[] }>('/v1/rankers'),
  submit: (body: JobSubmit) => json<JobView>('/v1/jobs', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) }),
  job: (id: string) => json<JobView>(`/v1/jobs/${encodeURIComponent(id)}`),
  cancel: (id: string) => json<JobView>(`/v1/jobs/${encodeURIComponent(id)}`, { method: 'DELETE' }),
  records: (query: { prompt?: string; model?: string; provider?: string; since?: string; until?: string; cursor?: string; limit?: number }, signal?: AbortSignal) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') search.set(name, String(value));
    return json<RecordPage>(`/v1/records?${search}`, { signal });
  },
  record: (id: string) => json<ImageRecord>(`/v1/records/${encodeURIComponent(id)}`),
  /** The image bytes of a blob, which needs the API key, so an `<img>` cannot load it by URL. */
  blob: async (blobKey: string, signal?: AbortSignal) => (await call(`/v1/blobs/${blobKey}`, { signal })).blob(),
};

export interface JobEvent {
  id: number;
  type: JobEventName;
  data: Record<string, unknown>;
}

/**
 * Follows `GET /v1/jobs/{id}/events` until it ends. `EventSource` cannot send the Authorization header,
 * so the stream is read with fetch and parsed here; a dropped connection resumes after the last id seen.
 */
export async function followJob(id: string, onEvent: (event: JobEvent) => void, signal: AbortSignal): Promise<void> {
  let after = 0;
  for (let attempt = 0; attempt < 5 && !signal.aborted; attempt++) {
    try {
      const response = await call(`/v1/jobs/${encodeURIComponent(id)}/events?after=${after}`, { signal, headers: { Accept: 'text/event-stream' } });
      const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
          const event = parseEvent(block);
          if (!event) continue;
          after = event.id;
          onEvent(event);
          if (event.type === 'done' || event.type === 'error' || event.type === 'cancelled') return;
        }
      }
    } catch (error) {
      if (signal.aborted || (error instanceof ApiError && error.status !== 0)) throw error;
    }
  }
}

function parseEvent(block: string): JobEvent | undefined {
  let id = 0;
  let type = '';
  const data: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id') id = Number(value);
    else if (field === 'event') type = value;
    else if (field === 'data') data.push(value);
  }
  if (!type || data.length === 0) return undefined;
  return { id, type: type as JobEventName, data: JSON.parse(data.join('\n')) as Record<string, unknown> };
}
