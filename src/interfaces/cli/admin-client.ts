// The CLI's side of the admin socket: the same operations as on the database, asked of the server that holds it.
import { request } from 'node:http';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { NotFoundError } from '../../service/errors/not-found-error.js';
import type { ReproductionReport, ServiceAdmin } from '../../service/admin/service-admin.js';
import { bytesReplacer, bytesReviver } from '../../service/admin/wire-bytes.js';

interface Answer {
  status: number;
  body: unknown;
}

function call(socketPath: string, method: string, path: string, body?: unknown, timeoutMs = 0): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body, bytesReplacer);
    const outgoing = request({ socketPath, method, path, headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ status: incoming.statusCode ?? 0, body: text === '' ? undefined : JSON.parse(text, bytesReviver) });
        } catch {
          reject(new Error(`the server's admin socket answered ${method} ${path} with something that is not JSON: ${text.slice(0, 200)}`));
        }
      });
      incoming.on('error', reject);
    });
    if (timeoutMs > 0) outgoing.setTimeout(timeoutMs, () => outgoing.destroy(new Error(`the admin socket ${socketPath} did not answer within ${timeoutMs} ms`)));
    outgoing.on('error', reject);
    outgoing.end(payload);
  });
}

/** The server's error, as the error class the same operation throws on the database. */
function failure({ status, body }: Answer, id: string | undefined): Error {
  const error = (body as { error?: { message?: string; param?: string | null; code?: string } } | undefined)?.error;
  const message = error?.message ?? `the server answered ${status}`;
  if (status === 400) return new InvalidArgumentError({ argument: error?.param ?? 'request', value: undefined, message });
  if (status === 404 && id !== undefined && error?.code?.endsWith('_not_found')) return new NotFoundError({ resource: error.code.slice(0, -'_not_found'.length), id, message });
  return new PixelpipeError({ name: 'AdminRequestError', message });
}

/** Who answers on an admin socket, when a server does. */
export interface ServerInfo {
  pid: number;
  dataDir: string;
  database: string;
}

/** Asks the socket who holds it; undefined when nothing answers within `timeoutMs` (no server, or a dead one's file). */
export async function probeAdminSocket(socketPath: string, timeoutMs = 2000): Promise<ServerInfo | undefined> {
  try {
    const answer = await call(socketPath, 'GET', '/admin/info', undefined, timeoutMs);
    return answer.status === 200 ? (answer.body as ServerInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** The admin operations of the server answering on `socketPath`. */
export function socketAdmin(socketPath: string, info: ServerInfo): ServiceAdmin {
  const ask = async <T>(method: string, path: string, body?: unknown, id?: string): Promise<T> => {
    const answer = await call(socketPath, method, path, body);
    if (answer.status >= 400) throw failure(answer, id);
    return answer.body as T;
  };
  return {
    via: `the running server (pid ${info.pid}, through ${socketPath})`,
    createKey: (options) => ask('POST', '/admin/keys', options),
    listKeys: ({ includeRevoked = false } = {}) => ask('GET', `/admin/keys${includeRevoked ? '?all=true' : ''}`),
    revokeKey: (idOrPrefix) => ask('POST', '/admin/keys/revoke', { idOrPrefix }, idOrPrefix),
    listRecords: (filter) => ask('POST', '/admin/records/list', filter),
    listAudit: (filter) => ask('POST', '/admin/audit/list', filter),
    async reproduce(id, { model } = {}) {
      const report = await ask<Omit<ReproductionReport, 'image'> & { image: { mediaType: string; base64: string } }>('POST', `/admin/records/${encodeURIComponent(id)}/reproduce`, model === undefined ? {} : { model }, id);
      return { ...report, image: { mediaType: report.image.mediaType, bytes: new Uint8Array(Buffer.from(report.image.base64, 'base64')) } };
    },
    listModels: () => ask('GET', '/admin/models'),
    recordGeneration: (generation) => ask('POST', '/admin/generations', generation),
    close: async () => undefined,
  };
}
