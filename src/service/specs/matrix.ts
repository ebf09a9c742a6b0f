// A spec's matrix: axes multiplied in the order written (first axis slowest), minus excluded combinations, plus included ones; counted without enumerating outputs.

/** One axis: its name and values as strings, in the order written. */
export interface Axis {
  name: string;
  values: string[];
}

/** A spec's matrix, checked: axis values are unique, exclude values exist, includes name every axis but `size`. */
export interface Matrix {
  /** The spec's `size` list is the last axis, named `size`, when the spec has sizes. */
  axes: Axis[];
  /** Extra combinations after the product; one without `size` is made once per size. */
  include: Record<string, string>[];
  /** A product combination matching every key of any entry is dropped; includes are never dropped. */
  exclude: Record<string, string>[];
}

/** Above this many product combinations, excludes are not subtracted when counting (the count is refused as too large anyway). */
const exactCountLimit = 10_000_000;

/** How many combinations `combinations` yields, computed from the axis lengths. */
export function countCombinations(matrix: Matrix): number {
  const product = matrix.axes.reduce((total, axis) => total * axis.values.length, 1);
  const sizeAxis = matrix.axes.find((axis) => axis.name === 'size');
  const included = matrix.include.reduce((total, entry) => total + ('size' in entry || !sizeAxis ? 1 : sizeAxis.values.length), 0);
  if (matrix.exclude.length === 0 || product > exactCountLimit) return product + included;
  // Only the axes that excludes name decide whether a combination is dropped; the rest multiply.
  const constrained = matrix.axes.filter((axis) => matrix.exclude.some((entry) => axis.name in entry));
  const freeProduct = matrix.axes.filter((axis) => !constrained.includes(axis)).reduce((total, axis) => total * axis.values.length, 1);
  let kept = 0;
  for (const combination of productOf(constrained)) if (!isExcluded(combination, matrix.exclude)) kept += 1;
  return kept * freeProduct + included;
}

/** Every combination in order: the product (first axis slowest) without excluded ones, then the includes. */
export function* combinations(matrix: Matrix): Generator<Record<string, string>> {
  for (const combination of productOf(matrix.axes)) if (!isExcluded(combination, matrix.exclude)) yield combination;
  const sizeAxis = matrix.axes.find((axis) => axis.name === 'size');
  for (const entry of matrix.include) {
    if ('size' in entry || !sizeAxis) yield { ...entry };
    else for (const size of sizeAxis.values) yield { ...entry, size };
  }
}

function isExcluded(combination: Record<string, string>, exclude: Record<string, string>[]): boolean {
  return exclude.some((entry) => Object.entries(entry).every(([name, value]) => combination[name] === value));
}

function* productOf(axes: Axis[]): Generator<Record<string, string>> {
  if (axes.some((axis) => axis.values.length === 0)) return;
  const positions = axes.map(() => 0);
  for (;;) {
    const combination: Record<string, string> = {};
    axes.forEach((axis, index) => (combination[axis.name] = axis.values[positions[index]]));
    yield combination;
    // Advance the last axis fastest, carrying into earlier ones.
    let index = axes.length - 1;
    while (index >= 0 && positions[index] === axes[index].values.length - 1) {
      positions[index] = 0;
      index -= 1;
    }
    if (index < 0) return;
    positions[index] += 1;
  }
}
