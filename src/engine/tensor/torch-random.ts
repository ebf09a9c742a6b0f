// PyTorch's CPU generator (torch 1.13, x86 AVX2 build) bit for bit, so a seed gives the same noise as torch.randn.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/*
 * What torch does, and what the reference data (test-data/conformance/randn.json) confirmed:
 *
 * - `manual_seed(seed)` seeds mt19937 with the low 32 bits of the 64-bit seed and clears the
 *   cached normal sample. `random()` is one 32-bit draw; `random64()` is two, the first being
 *   the high word.
 * - A float uniform is `(random() & (2^24 - 1)) * 2^-24`; a double uniform is
 *   `(random64() & (2^53 - 1)) * 2^-53`.
 * - randn of a contiguous float32 tensor with at least 16 values fills every value with a float
 *   uniform first, then runs Box-Muller on each block of 16, pairing value j with value j + 8.
 *   When the count is not a multiple of 16, the last 16 values are redrawn from fresh uniforms
 *   and transformed again (so they overlap the last full block).
 * - The x86 build runs that Box-Muller through `normal_fill_16_AVX2`, whose log and sincos come
 *   from `avx_mathfun.h`: Cephes float32 polynomials, not libm. GCC compiles that kernel with
 *   FMA and its default `-ffp-contract=fast`, which fuses a multiply into the add or subtract
 *   that consumes it whenever the product has no other use, and where an add has two products
 *   as operands it fuses the one computed first. Checked against all 1,796 reference values of
 *   this path: double maths then Math.fround misses 1,153 of them, libm-style float maths
 *   (logf, cosf) 708, the Cephes polynomials without FMA 28, and with the fusions below, none.
 *   Fusing the other product in the cosine polynomial's last step matches every listed value but
 *   not the sums, so the reference sums matter as much as the values.
 * - Fewer than 16 values take the scalar path: `normal_distribution<double>`, two double
 *   uniforms per pair, r = sqrt(-2 log(1 - u2)), theta = 2 pi u1; it returns r cos(theta) and
 *   keeps r sin(theta) in the generator for the next scalar draw, then casts to float. 1 - u2 is
 *   exact for these uniforms, so torch 2.x's log1p(-u2) takes the log of the same number. This path uses
 *   libm in double; V8's Math.log/cos/sin matched glibc on all 72 reference values, and a 1-ulp
 *   difference in double would only show after the cast to float about once in 2^28 values.
 * - rand draws one float uniform per value, in order.
 */

const toFloat32 = Math.fround;

/** The standard 32-bit Mersenne Twister, as `at::mt19937` implements it. */
class Mt19937 {
  private static readonly stateSize = 624;
  private static readonly shiftSize = 397;
  private readonly state = new Uint32Array(Mt19937.stateSize);
  private index = Mt19937.stateSize;

  constructor(seed32: number) {
    const state = this.state;
    state[0] = seed32 >>> 0;
    for (let index = 1; index < Mt19937.stateSize; index++) {
      const previous = state[index - 1]!;
      state[index] = (Math.imul(1812433253, previous ^ (previous >>> 30)) + index) >>> 0;
    }
  }

  nextUint32(): number {
    if (this.index >= Mt19937.stateSize) this.twist();
    let value = this.state[this.index++]!;
    value ^= value >>> 11;
    value ^= (value << 7) & 0x9d2c5680;
    value ^= (value << 15) & 0xefc60000;
    value ^= value >>> 18;
    return value >>> 0;
  }

  private twist(): void {
    const state = this.state;
    const size = Mt19937.stateSize;
    const shift = Mt19937.shiftSize;
    for (let index = 0; index < size; index++) {
      const mixed = (state[index]! & 0x80000000) | (state[index + 1 < size ? index + 1 : 0]! & 0x7fffffff);
      const partner = index + shift < size ? index + shift : index + shift - size;
      state[index] = state[partner]! ^ (mixed >>> 1) ^ (mixed & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }
}

/** A PyTorch CPU generator after `torch.Generator('cpu').manual_seed(seed)`. */
export class TorchGenerator {
  /** The seed as given; only its low 32 bits reach mt19937, as in torch. */
  readonly initialSeed: bigint;
  private readonly engine: Mt19937;
  /** torch's `next_double_normal_sample`: the sine half of the last scalar Box-Muller pair. */
  private cachedNormal: number | undefined;

  /** `seed`: 0 to 2^64 − 1, parsed where it entered pixelpipe; not checked again here. */
  constructor(seed: bigint) {
    this.initialSeed = seed;
    this.engine = new Mt19937(Number(this.initialSeed & 0xffffffffn));
  }

  /** `torch.randn(shape, generator=this, dtype=torch.float32)`, consuming the same draws. */
  randn(shape: readonly number[]): Float32Array {
    const count = elementCount(shape);
    const values = new Float32Array(count);
    if (count < 16) {
      for (let index = 0; index < count; index++) values[index] = this.nextScalarNormal();
      return values;
    }
    this.fillFloatUniform(values, 0, count);
    for (let start = 0; start + 16 <= count; start += 16) boxMuller16(values, start);
    if (count % 16 !== 0) {
      this.fillFloatUniform(values, count - 16, count);
      boxMuller16(values, count - 16);
    }
    return values;
  }

  /** `torch.rand(shape, generator=this, dtype=torch.float32)`: uniform on [0, 1). */
  rand(shape: readonly number[]): Float32Array {
    const count = elementCount(shape);
    const values = new Float32Array(count);
    this.fillFloatUniform(values, 0, count);
    return values;
  }

  /** `uniform_real_distribution<float>(0, 1)` for each index in [start, end). */
  private fillFloatUniform(target: Float32Array, start: number, end: number): void {
    const engine = this.engine;
    for (let index = start; index < end; index++) target[index] = (engine.nextUint32() & 0xffffff) * 2 ** -24;
  }

  /** `uniform_real_distribution<double>(0, 1)`: 53 bits of `random64()`, high word drawn first. */
  private nextDoubleUniform(): number {
    const high = this.engine.nextUint32();
    const low = this.engine.nextUint32();
    return ((high & 0x1fffff) * 2 ** 32 + low) * 2 ** -53;
  }

  /** `normal_distribution<double>(0, 1)` cast to float, sharing torch's one-sample cache. */
  private nextScalarNormal(): number {
    if (this.cachedNormal !== undefined) {
      const cached = this.cachedNormal;
      this.cachedNormal = undefined;
      return toFloat32(cached);
    }
    const angleUniform = this.nextDoubleUniform();
    const radiusUniform = this.nextDoubleUniform();
    const radius = Math.sqrt(-2 * Math.log(1 - radiusUniform));
    const theta = 2 * Math.PI * angleUniform;
    this.cachedNormal = radius * Math.sin(theta);
    return toFloat32(radius * Math.cos(theta));
  }
}

/** `torch.randn(shape, generator=torch.Generator('cpu').manual_seed(seed))` as float32. */
export function randn(shape: readonly number[], seed: bigint | number): Float32Array {
  return new TorchGenerator(BigInt(seed)).randn(shape);
}

function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new InvalidArgumentError({
        argument: 'shape',
        value: shape,
        message: `\`shape\` must hold non-negative integers, got [${shape.join(', ')}]`,
      });
    }
    count *= size;
  }
  return count;
}

/**
 * Float32 `a * b + c` rounded once, as the FMA instruction does. The product of two float32
 * values is exact in double, but the double sum is already rounded, and rounding that again to
 * float32 goes wrong exactly when the double sum lands on a float32 midpoint and the dropped
 * part would have decided the tie. Only then does the sign of the dropped part pick the side.
 */
function fusedMultiplyAdd(a: number, b: number, c: number): number {
  const product = a * b;
  const sum = product + c;
  const rounded = toFloat32(sum);
  if (rounded === sum) return rounded;
  const cPart = sum - product;
  const dropped = product - (sum - cPart) + (c - cPart);
  if (dropped === 0) return rounded;
  const otherNeighbour = 2 * sum - rounded;
  if (toFloat32(otherNeighbour) !== otherNeighbour) return rounded; // not a midpoint
  return dropped > 0 === rounded > sum ? rounded : otherNeighbour;
}

// avx_mathfun.h constants, each as the float32 the C code stores.
const sqrtHalf = toFloat32(0.707106781186547524);
const logCoefficients = [
  7.0376836292e-2, -1.151461031e-1, 1.167699874e-1, -1.2420140846e-1, 1.4249322787e-1, -1.6668057665e-1,
  2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1,
].map(toFloat32);
const logLowLn2 = toFloat32(-2.1219444e-4);
const logHighLn2 = toFloat32(0.693359375);
const fourOverPi = toFloat32(1.27323954473516);
const minusPiOver4High = toFloat32(-0.78515625);
const minusPiOver4Middle = toFloat32(-2.4187564849853515625e-4);
const minusPiOver4Low = toFloat32(-3.77489497744594108e-8);
const sineP0 = toFloat32(-1.9515295891e-4);
const sineP1 = toFloat32(8.3321608736e-3);
const sineP2 = toFloat32(-1.6666654611e-1);
const cosineP0 = toFloat32(2.443315711809948e-5);
const cosineP1 = toFloat32(-1.388731625493765e-3);
const cosineP2 = toFloat32(4.166664568298827e-2);
/** `_mm256_set1_ps(2.0f * c10::pi<double>)`: 2 pi computed in double, then stored as float. */
const twoPi = toFloat32(2 * Math.PI);

const bitsView = new Uint32Array(1);
const floatView = new Float32Array(bitsView.buffer);

/** `log256_ps` for one lane, for x in (0, 1] (Box-Muller never passes anything else). */
function cephesLog(input: number): number {
  // Split x into a mantissa in [0.5, 1) and a power of two, like frexp.
  floatView[0] = input;
  const bits = bitsView[0]!;
  let exponent = (bits >>> 23) - 127 + 1;
  bitsView[0] = (bits & ~0x7f800000) | 0x3f000000;
  let x = floatView[0]!;
  if (x < sqrtHalf) {
    exponent -= 1;
    x = toFloat32(toFloat32(x - 1) + x);
  } else {
    x = toFloat32(x - 1);
  }
  const square = toFloat32(x * x);
  let y = logCoefficients[0]!;
  for (let index = 1; index < logCoefficients.length; index++) y = fusedMultiplyAdd(y, x, logCoefficients[index]!);
  y = toFloat32(y * x);
  // `y * z + e * q1`: both products feed the add; GCC fuses the first one computed.
  y = fusedMultiplyAdd(y, square, toFloat32(exponent * logLowLn2));
  y = fusedMultiplyAdd(-square, 0.5, y);
  return fusedMultiplyAdd(exponent, logHighLn2, toFloat32(x + y));
}

/** Where `cephesSinCos` leaves its sine and cosine, so the hot loop allocates nothing. */
const sinCos = { sine: 0, cosine: 0 };

/** `sincos256_ps` for one lane, for x >= 0 (Box-Muller's angle is 2 pi u). */
function cephesSinCos(angle: number): void {
  let x = angle;
  // Octant j, rounded up to even, so x - j pi/4 lies in [-pi/4, pi/4].
  const octant = (Math.trunc(toFloat32(x * fourOverPi)) + 1) & ~1;
  // Cody-Waite reduction with pi/4 split in three parts.
  x = fusedMultiplyAdd(octant, minusPiOver4High, x);
  x = fusedMultiplyAdd(octant, minusPiOver4Middle, x);
  x = fusedMultiplyAdd(octant, minusPiOver4Low, x);
  const square = toFloat32(x * x);

  let cosine = fusedMultiplyAdd(cosineP0, square, cosineP1);
  cosine = fusedMultiplyAdd(cosine, square, cosineP2);
  cosine = toFloat32(cosine * square);
  // `y * z - z * 0.5`: GCC fuses `y * z`, the first product computed (fusing the other one
  // matches every listed reference value but not the reference sums).
  cosine = fusedMultiplyAdd(cosine, square, -toFloat32(square * 0.5));
  cosine = toFloat32(cosine + 1);

  let sine = fusedMultiplyAdd(sineP0, square, sineP1);
  sine = fusedMultiplyAdd(sine, square, sineP2);
  sine = toFloat32(sine * square);
  sine = fusedMultiplyAdd(sine, x, x);

  const swapPolynomials = (octant & 2) !== 0;
  let sineResult = swapPolynomials ? cosine : sine;
  let cosineResult = swapPolynomials ? sine : cosine;
  if ((octant & 4) !== 0) sineResult = -sineResult;
  if (((octant - 2) & 4) === 0) cosineResult = -cosineResult;
  sinCos.sine = sineResult;
  sinCos.cosine = cosineResult;
}

/** `normal_fill_16_AVX2` with mean 0 and std 1: Box-Muller on values [start, start + 16). */
function boxMuller16(values: Float32Array, start: number): void {
  for (let lane = start; lane < start + 8; lane++) {
    // 1 - u maps [0, 1) to (0, 1], keeping log finite.
    const radius = toFloat32(Math.sqrt(toFloat32(-2 * cephesLog(toFloat32(1 - values[lane]!)))));
    cephesSinCos(toFloat32(twoPi * values[lane + 8]!));
    // The store rounds the product to float32. The `+ 0` is torch's final fmadd with mean 0: when
    // u is 0 the radius is -0, and the fmadd turns the resulting -0 into +0.
    values[lane] = toFloat32(radius * sinCos.cosine) + 0;
    values[lane + 8] = toFloat32(radius * sinCos.sine) + 0;
  }
}
