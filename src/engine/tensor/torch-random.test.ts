// Checks the PyTorch generator port bit for bit against values recorded from torch 1.13 on the CPU.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { testData } from '../../testing/paths.js';
import { TorchGenerator, randn } from './torch-random.js';

interface RandnCase {
  seed: string;
  seed_int: number | null;
  shape: number[];
  numel: number;
  first16: number[];
  last16: number[];
  sum: number;
  sumsq: number;
  initial_seed: string;
  all?: number[];
}

interface Draw {
  shape: number[];
  first16: number[];
  last16?: number[];
  sum: number;
}

interface Reference {
  cases: RandnCase[];
  sequential: { seed: number; draws: Draw[] }[];
  rand: ({ seed: number } & Draw)[];
}

const reference = JSON.parse(readFileSync(testData('conformance', 'randn.json'), 'utf8')) as Reference;

/** Fails listing every index whose float32 bits differ; the JSON holds each float32 as a double. */
function assertSameFloat32(actual: Float32Array, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const mismatches: string[] = [];
  expected.forEach((value, index) => {
    if (!Object.is(actual[index], Math.fround(value))) mismatches.push(`[${index}] got ${actual[index]}, want ${value}`);
  });
  assert.deepEqual(mismatches, [], `${label}: ${mismatches.length} values differ`);
}

/** Sums in double, as the reference did; exact float32 values leave only summation-order noise. */
function assertSums(values: Float32Array, sum: number, sumOfSquares: number | undefined, label: string): void {
  let total = 0;
  let totalOfSquares = 0;
  for (const value of values) {
    total += value;
    totalOfSquares += value * value;
  }
  assert.ok(Math.abs(total - sum) <= 1e-11, `${label}: sum ${total}, want ${sum}`);
  if (sumOfSquares !== undefined) {
    assert.ok(
      Math.abs(totalOfSquares - sumOfSquares) <= 1e-12 * sumOfSquares,
      `${label}: sum of squares ${totalOfSquares}, want ${sumOfSquares}`,
    );
  }
}

function assertDraw(values: Float32Array, draw: Draw & { sumsq?: number; all?: number[] }, label: string): void {
  assertSameFloat32(values.subarray(0, draw.first16.length), draw.first16, `${label} first16`);
  if (draw.last16) assertSameFloat32(values.subarray(values.length - draw.last16.length), draw.last16, `${label} last16`);
  if (draw.all) assertSameFloat32(values, draw.all, `${label} all`);
  assertSums(values, draw.sum, draw.sumsq, label);
}

describe('TorchGenerator.randn matches torch.randn', () => {
  for (const testCase of reference.cases) {
    const label = `seed ${testCase.seed} shape [${testCase.shape.join(', ')}]`;
    it(label, () => {
      const generator = new TorchGenerator(BigInt(testCase.seed));
      assert.equal(generator.initialSeed, BigInt(testCase.initial_seed));
      const values = generator.randn(testCase.shape);
      assert.equal(values.length, testCase.numel);
      assertDraw(values, testCase, label);
      if (testCase.seed_int !== null) {
        assert.deepEqual(randn(testCase.shape, testCase.seed_int), values, `${label}: number seed`);
      }
    });
  }

  for (const sequence of reference.sequential) {
    it(`consecutive draws from one generator, seed ${sequence.seed}`, () => {
      const generator = new TorchGenerator(BigInt(sequence.seed));
      sequence.draws.forEach((draw, index) => {
        assertDraw(generator.randn(draw.shape), draw, `draw ${index} shape [${draw.shape.join(', ')}]`);
      });
    });
  }

  it('keeps the scalar path’s second sample for the next draw, as torch does', () => {
    // normal_distribution<double> makes values in pairs and caches the second in the generator,
    // so two one-value draws give the first two values of one three-value draw.
    const threeValues = reference.cases.find((testCase) => testCase.seed === '42' && testCase.numel === 3)!;
    const generator = new TorchGenerator(42n);
    const firstTwo = new Float32Array([...generator.randn([1]), ...generator.randn([1])]);
    assertSameFloat32(firstTwo, threeValues.all!.slice(0, 2), 'two one-value draws');
  });

  it('uses only the low 32 bits of the seed', () => {
    assert.deepEqual(randn([2, 4, 8, 8], (1n << 40n) + 42n), randn([2, 4, 8, 8], 42));
    assert.deepEqual(randn([5], (1n << 33n) + 7n), randn([5], 7));
  });

  it('handles a scalar shape and empty tensors', () => {
    assert.equal(randn([], 0).length, 1);
    assert.equal(randn([0], 0).length, 0);
    assert.equal(randn([4, 0, 4], 0).length, 0);
  });
});

describe('TorchGenerator.rand matches torch.rand', () => {
  for (const draw of reference.rand) {
    it(`seed ${draw.seed} shape [${draw.shape.join(', ')}]`, () => {
      assertDraw(new TorchGenerator(BigInt(draw.seed)).rand(draw.shape), draw, `rand seed ${draw.seed}`);
    });
  }
});

// Seeds are parsed where they enter pixelpipe (`parseSeed`, tested beside it); the generator takes the bigint as given.
describe('TorchGenerator seed and shape checks', () => {
  it('accepts every seed from 0 to 2^64 - 1 and remembers it', () => {
    assert.equal(new TorchGenerator(0n).initialSeed, 0n);
    assert.equal(new TorchGenerator(2n ** 53n).initialSeed, 2n ** 53n);
    assert.equal(new TorchGenerator((1n << 64n) - 1n).initialSeed, (1n << 64n) - 1n);
  });

  it('refuses a shape with a negative or fractional size', () => {
    for (const shape of [[-1], [2, 1.5]]) {
      assert.throws(
        () => new TorchGenerator(0n).randn(shape),
        (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'shape',
      );
    }
  });
});
