// The `--extend` flag: `left=128,right=128` → the sides to grow the canvas by.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { CanvasExtension } from '../../spec/image-model-call-options.js';

type Extension = Required<CanvasExtension>;

const sides: readonly (keyof Extension)[] = ['left', 'right', 'top', 'bottom'];

/** Parses `left=128,right=128`: any of the four sides, each at most once, at least one above 0. */
export function parseExtension(text: string): Extension {
  const extension: Extension = { left: 0, right: 0, top: 0, bottom: 0 };
  const seen = new Set<string>();
  const invalid = (problem: string) =>
    new InvalidArgumentError({
      argument: 'extend',
      value: text,
      message: `\`extend\` ${JSON.stringify(text)}: ${problem}; write sides as left=N,right=N,top=N,bottom=N, e.g. left=128,right=128`,
    });
  if (text.trim() === '') throw invalid('is empty');
  for (const rawPart of text.split(',')) {
    const part = rawPart.trim();
    const match = /^([a-z]+)\s*=\s*(\S*)$/i.exec(part);
    if (match === null) throw invalid(`${JSON.stringify(part)} is not side=pixels`);
    const [, name, amount] = match;
    const side = name.toLowerCase();
    if (!(sides as readonly string[]).includes(side)) throw invalid(`${JSON.stringify(name)} is not a side (left, right, top or bottom)`);
    if (seen.has(side)) throw invalid(`${side} is given twice`);
    seen.add(side);
    if (!/^\d+$/.test(amount) || !Number.isSafeInteger(Number(amount))) throw invalid(`${side}=${amount} is not a whole number of pixels, 0 or more`);
    extension[side as keyof Extension] = Number(amount);
  }
  if (sides.every((side) => extension[side] === 0)) throw invalid('adds no pixels; give at least one side above 0');
  return extension;
}
