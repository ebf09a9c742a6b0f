// Output paths: a rendered path template must be a relative, normalised file path inside the project's output folder, with an image extension.
import { posix } from 'node:path';
import type { Complaint } from './templates.js';

export type OutputFormat = 'png' | 'webp' | 'jpeg';

const formatsByExtension: Record<string, OutputFormat> = { png: 'png', webp: 'webp', jpg: 'jpeg', jpeg: 'jpeg' };

/** Checks `outputDir` as written and returns it normalised (`./out/` → `out`). */
export function normaliseOutputDir(outputDir: string): { outputDir: string } | Complaint {
  const unsafe = unsafeCharacters(outputDir, JSON.stringify(outputDir));
  if (unsafe) return unsafe;
  const normalised = posix.normalize(outputDir).replace(/\/+$/, '');
  if (outputDir.startsWith('/') || /^[A-Za-z]:/.test(outputDir)) return { problem: `${JSON.stringify(outputDir)} is absolute`, fix: 'write a folder relative to the project folder, such as out' };
  if (normalised === '.' || normalised === '' || normalised === '..' || normalised.startsWith('../')) {
    return { problem: `${JSON.stringify(outputDir)} is not a folder inside the project folder`, fix: 'name a subfolder of the project folder, such as out, so outputs cannot overwrite spec files' };
  }
  return { outputDir: normalised };
}

/** The normalised path of a rendered template, or why it cannot be written. */
export function resolveOutputPath(rendered: string, outputDir: string): { path: string } | Complaint {
  const keepInside = `start the template with "${outputDir}/" and use no variable whose value holds ".." or starts with "/"`;
  const unsafe = unsafeCharacters(rendered, `resolves to ${JSON.stringify(rendered)}, which`);
  if (unsafe) return unsafe;
  if (rendered.startsWith('/') || /^[A-Za-z]:/.test(rendered)) return { problem: `resolves to ${JSON.stringify(rendered)}, an absolute path`, fix: keepInside };
  const normalised = posix.normalize(rendered);
  if (rendered.endsWith('/') || normalised.endsWith('/') || normalised === '.') return { problem: `resolves to ${JSON.stringify(rendered)}, a folder rather than a file`, fix: 'end the template with a file name such as {product}.webp' };
  if (!normalised.startsWith(`${outputDir}/`)) return { problem: `resolves to ${JSON.stringify(normalised)}, outside the output folder ${JSON.stringify(outputDir)}`, fix: keepInside };
  return { path: normalised };
}

/** The image format of an output: `declared` (from `output.format`) and the path's extension must agree. */
export function outputFormat(path: string, declared: OutputFormat | undefined): { format: OutputFormat } | Complaint {
  const extension = posix.extname(path).slice(1).toLowerCase();
  const fromExtension = formatsByExtension[extension];
  if (fromExtension === undefined) {
    return { problem: `${JSON.stringify(path)} ends in ${extension === '' ? 'no extension' : `.${extension}`}, which is not an image format written here`, fix: 'end the path with .png, .webp or .jpg' };
  }
  if (declared !== undefined && declared !== fromExtension) {
    return { problem: `${JSON.stringify(path)} has the extension of ${fromExtension}, but output.format is ${declared}`, fix: `make them agree: end the path with .${declared === 'jpeg' ? 'jpg' : declared}, or remove output.format` };
  }
  return { format: fromExtension };
}

/** `subject` starts the problem: `"a\\b"` or `resolves to "a\\b", which`. */
function unsafeCharacters(path: string, subject: string): Complaint | undefined {
  if (path.includes('\0')) return { problem: `${subject} contains a NUL character`, fix: 'remove it from the template or the variable that holds it' };
  if (path.includes('\\')) return { problem: `${subject} contains a backslash`, fix: 'separate folders with /' };
  return undefined;
}
