// The web UI at `/`: index.html (no-cache) for the app's own paths, hashed assets (immutable) under /assets/.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { HttpAppOptions, HttpEnv } from './http-env.js';

const here = dirname(fileURLToPath(import.meta.url));
/** `dist/web` beside the compiled `dist/interfaces/http/`, or, when running from `src/` (tsx), the package's `dist/web`. */
const candidateRoots = [resolve(here, '..', '..', 'web'), resolve(here, '..', '..', '..', 'dist', 'web')];

const assetPattern = /^\/assets\/[\w.-]+\.(js|css|svg|png|woff2)$/;
const mediaTypes: Record<string, string> = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', svg: 'image/svg+xml', png: 'image/png', woff2: 'font/woff2' };
/** The app's own pages (client-side routes); every other unknown path stays the API's JSON 404. */
const pagePaths = ['/', '/edit', '/history', '/history/*'];

/** Everything the page loads comes from this origin; images are fetched with the API key and shown as blob: URLs. */
const contentSecurityPolicy = "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The folder holding the built UI, or undefined when it was not built (run `npm run build`). */
export function defaultWebRoot(): string | undefined {
  return candidateRoots.find((root) => existsSync(join(root, 'index.html')));
}

export function registerWebRoutes(app: OpenAPIHono<HttpEnv>, { webRoot }: HttpAppOptions): void {
  if (webRoot === false) return;
  // Resolved on first use, so a build made after the server started is still found.
  const root = () => webRoot ?? defaultWebRoot();

  app.get('/assets/*', async (context) => {
    const folder = root();
    const path = context.req.path;
    const match = assetPattern.exec(path);
    if (!folder || !match) return context.notFound();
    const bytes = await readFile(join(folder, path)).catch(() => undefined);
    if (!bytes) return context.notFound();
    // Names carry a content hash, so a file never changes under its name.
    return context.body(new Uint8Array(bytes), 200, {
      'Content-Type': mediaTypes[match[1]!]!,
      'Cache-Control': 'public, max-age=31536000, immutable',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  // Each page answers index.html, so `/history/<id>` can be reloaded or bookmarked.
  const page = async (context: Context<HttpEnv>) => {
    const folder = root();
    if (!folder) return notBuilt(context);
    const html = await readFile(join(folder, 'index.html'), 'utf8').catch(() => undefined);
    if (html === undefined) return notBuilt(context);
    return context.html(html, 200, {
      // Always revalidated, so a new build's asset names are picked up at once.
      'Cache-Control': 'no-cache',
      'Content-Security-Policy': contentSecurityPolicy,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  };
  for (const path of pagePaths) app.get(path, page);
}

function notBuilt(context: Context<HttpEnv>) {
  const text = 'The pixelpipe web UI is not built into this copy: run `npm run build` (it writes dist/web/), then reload. The API is at /v1/ (see /openapi.json).\n';
  return context.text(text, 404, { 'Cache-Control': 'no-cache' });
}
