// The watermark's channel code: payload + CRC-32, convolutionally encoded, and the soft Viterbi decoder that reads it back.
import { crc32 } from 'node:zlib';

/**
 * Constraint length 7, rate 1/3, generators 133, 171, 165 (octal): the code of LTE's control
 * channels, a standard choice whose free distance (15) corrects the scattered block errors that
 * JPEG, rescaling and brightness changes leave. A convolutional code is used rather than BCH or
 * Reed–Solomon because its Viterbi decoder takes soft values directly: how close each block sat
 * to its lattice, not only which side it fell on.
 */
const constraintLength = 7;
const generators = [0o133, 0o171, 0o165];
const stateCount = 1 << (constraintLength - 1);
const crcBits = 32;

/** Coded bits for a payload of `payloadBytes`: message and CRC, six zero tail bits, three outputs each. */
export function codedBitCount(payloadBytes: number): number {
  return (payloadBytes * 8 + crcBits + constraintLength - 1) * generators.length;
}

function parity(value: number): number {
  let bits = value;
  bits ^= bits >>> 4;
  bits ^= bits >>> 2;
  bits ^= bits >>> 1;
  return bits & 1;
}

/** Output bits of each (state, input bit) transition, indexed by `(state << 1) | input`, packed as the bits of one number. */
const transitionOutputs = Uint8Array.from({ length: stateCount * 2 }, (_, index) => {
  const register = ((index & 1) << (constraintLength - 1)) | (index >> 1);
  return generators.reduce((packed, generator, output) => packed | (parity(register & generator) << output), 0);
});

/** Message bits, most significant first: the payload then its CRC-32 (zlib's), so a random read passes the check with odds of 2^-32. */
function messageBits(payload: Uint8Array): Uint8Array {
  const crc = crc32(payload) >>> 0;
  const bytes = [...payload, crc >>> 24, (crc >>> 16) & 0xff, (crc >>> 8) & 0xff, crc & 0xff];
  return Uint8Array.from({ length: bytes.length * 8 }, (_, index) => (bytes[index >> 3]! >> (7 - (index & 7))) & 1);
}

/** The coded bits (0/1) the image carries for `payload`. */
export function encodePayload(payload: Uint8Array): Uint8Array {
  const input = [...messageBits(payload), ...new Array<number>(constraintLength - 1).fill(0)];
  const coded = new Uint8Array(input.length * generators.length);
  let state = 0;
  input.forEach((bit, step) => {
    const outputs = transitionOutputs[(state << 1) | bit]!;
    for (let output = 0; output < generators.length; output++) coded[step * generators.length + output] = (outputs >> output) & 1;
    state = (state >> 1) | (bit << (constraintLength - 2));
  });
  return coded;
}

/**
 * The payload whose codeword best matches `soft` (positive = bit 0, negative = bit 1, magnitude =
 * confidence, 0 = unknown), or undefined when its CRC does not hold.
 */
export function decodePayload(soft: Float32Array, payloadBytes: number): Uint8Array | undefined {
  const steps = soft.length / generators.length;
  let metrics = new Float64Array(stateCount).fill(-Infinity);
  metrics[0] = 0;
  let next = new Float64Array(stateCount);
  const decisions = new Uint8Array(steps * stateCount);
  // Correlation of each packed output pattern with this step's soft values, filled per step.
  const branch = new Float64Array(1 << generators.length);
  for (let step = 0; step < steps; step++) {
    for (let pattern = 0; pattern < branch.length; pattern++) {
      let sum = 0;
      for (let output = 0; output < generators.length; output++) sum += ((pattern >> output) & 1 ? -1 : 1) * soft[step * generators.length + output]!;
      branch[pattern] = sum;
    }
    next.fill(-Infinity);
    for (let state = 0; state < stateCount; state++) {
      if (metrics[state] === -Infinity) continue;
      for (let bit = 0; bit < 2; bit++) {
        const target = (state >> 1) | (bit << (constraintLength - 2));
        const metric = metrics[state]! + branch[transitionOutputs[(state << 1) | bit]!]!;
        // The decision kept per target state is the bit that left the previous state: its low bit.
        if (metric > next[target]!) {
          next[target] = metric;
          decisions[step * stateCount + target] = state & 1;
        }
      }
    }
    [metrics, next] = [next, metrics];
  }
  // The tail drives the encoder back to state 0; trace back from there.
  const bits = new Uint8Array(steps);
  let state = 0;
  for (let step = steps - 1; step >= 0; step--) {
    bits[step] = state >> (constraintLength - 2);
    state = ((state << 1) & (stateCount - 1)) | decisions[step * stateCount + state]!;
  }
  const payload = Uint8Array.from({ length: payloadBytes }, (_, byte) => bits.subarray(byte * 8, byte * 8 + 8).reduce((value, bit) => (value << 1) | bit, 0));
  const expected = messageBits(payload);
  for (let index = payloadBytes * 8; index < expected.length; index++) if (expected[index] !== bits[index]) return undefined;
  return payload;
}
