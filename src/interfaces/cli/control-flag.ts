// `--control TYPE:IMAGE[:SCALE]`, `--controlnet PATH`, `--control-start F`, `--control-end F`: ControlNets for `generate`.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { LocalControlInput } from '../../providers/local/local-image-options.js';

const types = ['canny', 'scribble', 'image'] as const;

/** `TYPE:IMAGE[:SCALE]`: the type before the first colon, the scale after the last when it is a number (so `C:\\x.png` stays a path). */
export function parseControl(text: string): { type: (typeof types)[number]; image: string; scale?: number } {
  const first = text.indexOf(':');
  const type = text.slice(0, first);
  if (first <= 0 || !(types as readonly string[]).includes(type)) {
    throw new InvalidArgumentError({ argument: 'control', value: text, message: `\`--control\` must be TYPE:IMAGE[:SCALE] with TYPE one of ${types.join(', ')}, got ${JSON.stringify(text)}` });
  }
  let image = text.slice(first + 1);
  let scale: number | undefined;
  const last = image.lastIndexOf(':');
  if (last > 0 && /^[-+]?(\d+\.?\d*|\.\d+)$/.test(image.slice(last + 1))) {
    scale = Number(image.slice(last + 1));
    image = image.slice(0, last);
  }
  if (image === '') throw new InvalidArgumentError({ argument: 'control', value: text, message: `\`--control\` ${JSON.stringify(text)} names no image: give TYPE:IMAGE[:SCALE]` });
  return { type: type as (typeof types)[number], image, ...(scale !== undefined ? { scale } : {}) };
}

/**
 * The controls of the flags: each `--control` with its ControlNet, which is the one `--controlnet`
 * (shared by all) or the `--controlnet` in the same position (one per `--control`).
 */
export function controlsOfFlags(flags: { control?: string[]; controlnet?: string[]; start?: number; end?: number; canny?: string }): LocalControlInput[] | undefined {
  const { control = [], controlnet = [], start, end } = flags;
  const canny = flags.canny === undefined ? undefined : parseCanny(flags.canny);
  if (control.length === 0) {
    if (controlnet.length > 0 || start !== undefined || end !== undefined || canny) {
      throw new InvalidArgumentError({ argument: 'control', value: undefined, message: '`--controlnet`, `--control-start`, `--control-end` and `--canny` need a `--control TYPE:IMAGE[:SCALE]`' });
    }
    return undefined;
  }
  if (controlnet.length !== 1 && controlnet.length !== control.length) {
    throw new InvalidArgumentError({
      argument: 'controlnet',
      value: controlnet,
      message: `give one \`--controlnet PATH\` for all ${control.length} \`--control\` flags, or one per \`--control\` in the same order; got ${controlnet.length}`,
    });
  }
  return control.map((text, index) => ({
    ...parseControl(text),
    model: controlnet.length === 1 ? controlnet[0]! : controlnet[index]!,
    ...(start !== undefined ? { start } : {}),
    ...(end !== undefined ? { end } : {}),
    ...(canny && text.startsWith('canny:') ? canny : {}),
  }));
}

/** `--canny LOW:HIGH`: canny's hysteresis thresholds on the gradient magnitude. */
function parseCanny(text: string): { low: number; high: number } {
  const [low, high, ...rest] = text.split(':').map((part) => (part.trim() === '' ? Number.NaN : Number(part)));
  if (rest.length > 0 || low === undefined || high === undefined || !(low >= 0) || !(high >= low)) {
    throw new InvalidArgumentError({ argument: 'canny', value: text, message: `\`--canny\` must be LOW:HIGH with 0 ≤ LOW ≤ HIGH, e.g. 100:200, got ${JSON.stringify(text)}` });
  }
  return { low, high };
}
