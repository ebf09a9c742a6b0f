// NumPy and PyTorch array helpers reproduced to the bit, so schedules match diffusers' float32 values.

/** Rounds to float32; diffusers holds sigmas, alphas and every tensor step in float32. */
export const f32 = Math.fround;

/** NumPy's `round`: halves go to the even neighbour (np.round(2.5) is 2, not 3). */
export function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const difference = value - floor;
  if (difference < 0.5) return floor;
  if (difference > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `np.linspace(start, stop, count, endpoint)` in float64, computed the way NumPy 1.24 does it. */
export function numpyLinspace(start: number, stop: number, count: number, endpoint = true): number[] {
  const divisions = endpoint ? count - 1 : count;
  const step = (stop - start) / divisions;
  const values: number[] = [];
  for (let index = 0; index < count; index++) {
    // NumPy multiplies by the whole span when the step is zero or undefined (a single value).
    values.push(divisions > 0 && step !== 0 ? index * step + start : (divisions > 0 ? index / divisions : index) * (stop - start) + start);
  }
  if (endpoint && count > 1) values[count - 1] = stop;
  return values;
}

/**
 * `np.arange(start, stop, step)` for float steps. NumPy fills from the first two values, so the
 * stride is `(start + step) - start`, which can differ from `step` in the last bit.
 */
export function numpyArange(start: number, stop: number, step: number): number[] {
  const length = Math.max(0, Math.ceil((stop - start) / step));
  const stride = start + step - start;
  const values: number[] = [];
  for (let index = 0; index < length; index++) values.push(index === 0 ? start : start + index * stride);
  return values;
}

/** `np.interp(x, arange(len(values)), values)`: linear interpolation on the integer grid, in float64. */
export function interpolateOnIndexGrid(x: number, values: ArrayLike<number>): number {
  const last = values.length - 1;
  if (x <= 0) return values[0]!;
  if (x >= last) return values[last]!;
  const low = Math.floor(x);
  if (low === x) return values[low]!;
  const slope = values[low + 1]! - values[low]!;
  return slope * (x - low) + values[low]!;
}

/** A float32 fused multiply-add; x86 builds of torch contract `a + b * c` into one. */
function fusedMultiplyAdd32(a: number, b: number, c: number): number {
  return f32(a * b + c);
}

/**
 * `torch.linspace(start, end, count, dtype=torch.float32)` as torch 1.13 computes it on x86 CPUs:
 * a float32 step, 8-wide vectors whose first lane is a fused multiply-add from whichever end is
 * nearer, the other lanes added to it, and a scalar tail. Betas built any other way differ from
 * diffusers' in the last bit, which cumprod then carries into every sigma.
 */
export function torchLinspaceFloat32(start: number, end: number, count: number): Float32Array {
  const from = f32(start);
  const to = f32(end);
  const values = new Float32Array(count);
  if (count === 1) {
    values[0] = from;
    return values;
  }
  const step = f32(f32(to - from) / (count - 1));
  const halfway = Math.floor(count / 2);
  const at = (index: number) =>
    index < halfway ? fusedMultiplyAdd32(step, index, from) : fusedMultiplyAdd32(-step, count - index - 1, to);
  const lanes = 8;
  let index = 0;
  for (; index <= count - 2 * lanes; index += lanes) {
    const base = at(index);
    for (let lane = 0; lane < lanes; lane++) values[index + lane] = f32(base + f32(step * lane));
  }
  for (; index < count; index++) values[index] = at(index);
  return values;
}

/** `torch.cumprod` of a float32 tensor on CPU: accumulated in double, each prefix stored as float32. */
export function cumulativeProduct(values: ArrayLike<number>): Float32Array {
  const products = new Float32Array(values.length);
  let accumulator = 1;
  for (let index = 0; index < values.length; index++) {
    accumulator *= values[index]!;
    products[index] = accumulator;
  }
  return products;
}

/** Elementwise float32 `a * x + b * y`, the shape of most scheduler updates. */
export function combine(a: number, x: Float32Array, b: number, y: Float32Array): Float32Array {
  const result = new Float32Array(x.length);
  for (let index = 0; index < x.length; index++) result[index] = f32(f32(a * x[index]!) + f32(b * y[index]!));
  return result;
}

/** Elementwise float32 `x * factor`. */
export function scale(x: Float32Array, factor: number): Float32Array {
  const result = new Float32Array(x.length);
  for (let index = 0; index < x.length; index++) result[index] = f32(x[index]! * factor);
  return result;
}

/** Float32 square root, as torch's `** 0.5` on a float32 tensor. */
export function sqrt32(value: number): number {
  return f32(Math.sqrt(value));
}

/** `tensor.clamp(-range, range)`. */
export function clampInPlace(x: Float32Array, range: number): Float32Array {
  const bound = f32(range);
  for (let index = 0; index < x.length; index++) x[index] = Math.min(bound, Math.max(-bound, x[index]!));
  return x;
}
