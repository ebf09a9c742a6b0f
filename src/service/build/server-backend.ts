// A build against a running server (`--server URL --api-key KEY`): jobs through its native API, bytes through its blob route.
import type { JobView } from '../image-service-types.js';
import { BuildJobError, hashesOf, jobResult, type BuildBackend, type BuildModel } from './build-backend.js';

export interface ServerBackendOptions {
  url: string;
  apiKey?: string;
  fetch?: typeof fetch;
  /** How often a running job is looked at; default 250 ms. */
  pollMs?: number;
}

const finished = new Set(['succeeded', 'failed', 'cancelled']);

interface ErrorBody {
  error?: { message?: string; code?: string; param?: string };
}

export function openServerBackend({ url, apiKey, fetch: fetchImpl = fetch, pollMs = 250 }: ServerBackendOptions): BuildBackend {
  const base = url.replace(/\/+$/, '');
  const headers = { ...(apiKey && { authorization: `Bearer ${apiKey}` }) };

  async function call(path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetchImpl(`${base}${path}`, { ...init, headers: { ...headers, ...init.headers } });
    } catch (error) {
      throw new BuildJobError('server_unreachable', `cannot reach the server at ${base} (${(error as Error).message}); check --server and that it runs`);
    }
    if (response.ok) return response;
    const body = (await response.json().catch(() => ({}))) as ErrorBody;
    throw new BuildJobError(body.error?.code ?? `http_${response.status}`, `${init.method ?? 'GET'} ${path}: ${response.status} ${body.error?.message ?? response.statusText}`);
  }

  return {
    name: base,
    async model(reference) {
      // A server names models by its catalog ids; its weights' hashes are not published, so the id stands for them.
      const id = reference ?? 'default';
      const models = (await (await call('/v1/models')).json()) as { data: { id: string; owned_by: string; pixelpipe?: { capabilities?: { sizeMultiple: number; defaultSize: { width: number; height: number } } } }[] };
      const first = reference === undefined ? models.data.find((model) => model.owned_by === 'local') : models.data.find((model) => model.id === reference.split(',')[0]!.trim());
      const capabilities = first?.pixelpipe?.capabilities;
      return { reference: reference ?? '', hash: `server:${id}`, hosted: !capabilities, ...(capabilities && { sizeMultiple: capabilities.sizeMultiple, defaultSize: capabilities.defaultSize }) } satisfies BuildModel;
    },
    loraHashes: async (names) => hashesOf(((await (await call('/v1/loras')).json()) as { data: { name: string; sha256: string }[] }).data, names),
    controlNetHashes: async (names) => hashesOf(((await (await call('/v1/controlnets')).json()) as { data: { name: string; sha256: string }[] }).data, names),
    // The server checks `rankBy` when a job is submitted, naming the rankers it has.
    rankers: async () => undefined,
    async generate(request, { signal }) {
      const submitted = (await (await call('/v1/jobs', { method: 'POST', body: JSON.stringify(request), headers: { 'content-type': 'application/json' }, signal })).json()) as JobView;
      let job = submitted;
      while (!finished.has(job.state)) {
        await new Promise((resolve) => setTimeout(resolve, pollMs));
        if (signal?.aborted) {
          await call(`/v1/jobs/${job.id}`, { method: 'DELETE' }).catch(() => undefined);
          throw new BuildJobError('interrupted', `the build was interrupted; job ${job.id} was cancelled`);
        }
        job = (await (await call(`/v1/jobs/${job.id}`)).json()) as JobView;
      }
      return jobResult(job);
    },
    async read(record) {
      return new Uint8Array(await (await call(`/v1/blobs/${record.blobKey}`)).arrayBuffer());
    },
    close: async () => {},
  };
}
