// Builds the web UI (src/interfaces/web/app/) with esbuild into dist/web/: index.html and content-hashed assets.
// Run by `npm run build`; `node --import tsx src/interfaces/web/build-web.ts [OUT_DIR]`.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
/** Where `npm run build` puts the UI; the HTTP app serves it from there (see http/web-routes.ts). */
export const defaultWebOutDir = resolve(here, '..', '..', '..', 'dist', 'web');

export interface WebBuild {
  /** The files written, relative to the output folder. */
  files: string[];
  /** The entry script's size, and gzipped (level 9), in bytes. */
  jsBytes: number;
  jsGzipBytes: number;
  cssGzipBytes: number;
}

/** Bundles, minifies and writes the UI into `outDir` (emptied first). */
export async function buildWebAssets({ outDir = defaultWebOutDir, minify = true }: { outDir?: string; minify?: boolean } = {}): Promise<WebBuild> {
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  const result = await build({
    entryPoints: [join(here, 'app', 'main.tsx')],
    bundle: true,
    format: 'esm',
    // Browsers of the last few years; nothing is polyfilled.
    target: ['chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify,
    sourcemap: false,
    legalComments: 'none',
    entryNames: 'assets/[name]-[hash]',
    outdir: outDir,
    metafile: true,
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const files = Object.keys(result.metafile.outputs).map((path) => relative(outDir, resolve(path)));
  const script = files.find((file) => file.endsWith('.js'));
  const style = files.find((file) => file.endsWith('.css'));
  if (!script || !style) throw new Error(`the web build wrote no script or no stylesheet: ${files.join(', ')}`);

  const template = await readFile(join(here, 'app', 'index.html'), 'utf8');
  const html = template.replace('<!-- assets -->', `<link rel="stylesheet" href="/${style}">\n    <script type="module" src="/${script}"></script>`);
  await writeFile(join(outDir, 'index.html'), html);

  const js = await readFile(join(outDir, script));
  const css = await readFile(join(outDir, style));
  return { files: [...files, 'index.html'], jsBytes: js.length, jsGzipBytes: gzipSync(js, { level: 9 }).length, cssGzipBytes: gzipSync(css, { level: 9 }).length };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = process.argv[2] ? resolve(process.argv[2]) : defaultWebOutDir;
  const built = await buildWebAssets({ outDir });
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} kB`;
  console.log(`web UI: ${relative(process.cwd(), outDir) || '.'}/ (${built.files.map((file) => basename(file)).join(', ')}); JS ${kb(built.jsBytes)}, ${kb(built.jsGzipBytes)} gzipped; CSS ${kb(built.cssGzipBytes)} gzipped`);
}
