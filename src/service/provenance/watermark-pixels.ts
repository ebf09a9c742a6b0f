// The watermark on raw pixels: one coded bit quantised into each block, and the reader's search for them after edits.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { codedBitCount, decodePayload, encodePayload } from './watermark-code.js';
import { blockCount, fitToImage, luminance, projectBlocks, seededRandom, shrinkLuminance, spreadBlocks, workingGrid, workingSize, type Framing, type RawPixels, type Window } from './watermark-transform.js';

/** Bytes the watermark carries: 48 bits, enough to find a pixelpipe record. */
export const watermarkPayloadBytes = 6;

/**
 * The shortest side an image may have to be watermarked. From 256 pixels up the mark survives
 * every edit `npm run bench:watermark` measures. Smaller images hold a block in fewer pixels than
 * JPEG's own 8×8 blocks: at 128 it survives JPEG at quality 75, brightness and crops but not JPEG
 * at 50 or halving; at 64 only lossless copies, brightness and crops.
 */
export const watermarkMinimumSide = 64;

/**
 * Quantiser step of a block's projection (luminance levels along its unit-norm pattern). It sets
 * the strength: about 44 dB PSNR whatever the image, while JPEG at quality 50 flips few bits of a
 * 256-pixel or larger image (a bit flips when a block moves by a quarter step).
 */
const step = 44;
/** Embedding passes: the first moves each block onto its lattice, the next undo what resizing the change to the image's size and rounding to 8 bits cost. */
const passes = 2;

const codedBits = codedBitCount(watermarkPayloadBytes);
/** Each block's dither, as a fraction of the step, so the lattices differ from block to block and the change looks like noise. */
const dither = (() => {
  const random = seededRandom(0x5eed1e55);
  return Float32Array.from({ length: blockCount }, () => random());
})();
/** The coded bit each block carries: block order shuffled, so each bit's copies (about four) lie far apart and a crop or a flat region takes few of them. */
const bitOfBlock = (() => {
  const random = seededRandom(0xb10c5);
  const order = Array.from({ length: blockCount }, (_, block) => block);
  for (let index = order.length - 1; index > 0; index--) {
    const other = Math.floor(random() * (index + 1));
    [order[index], order[other]] = [order[other]!, order[index]!];
  }
  const bits = new Uint16Array(blockCount);
  order.forEach((block, position) => (bits[block] = position % codedBits));
  return bits;
})();

/** Refuses a payload that is not `watermarkPayloadBytes` long. */
export function checkPayload(payload: Uint8Array): void {
  if (!(payload instanceof Uint8Array) || payload.length !== watermarkPayloadBytes) {
    const got = payload instanceof Uint8Array ? `${payload.length} bytes` : typeof payload;
    throw new InvalidArgumentError({ argument: 'payload', value: payload, message: `\`payload\` must be a Uint8Array of ${watermarkPayloadBytes} bytes (the ${watermarkPayloadBytes * 8} bits the watermark carries), got ${got}` });
  }
}

function checkPixels(pixels: RawPixels): void {
  const { data, width, height, channels } = pixels;
  const valid = Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0 && [1, 2, 3, 4].includes(channels) && data.length === width * height * channels;
  if (!valid) {
    throw new InvalidArgumentError({ argument: 'pixels', value: { width, height, channels, length: data.length }, message: `\`pixels\` must hold width × height × channels bytes with 1 to 4 channels, got ${width}×${height}×${channels} and ${data.length} bytes` });
  }
}

/** Refuses an image under `watermarkMinimumSide` on a side, naming the argument that held it. */
export function checkWatermarkSize(width: number, height: number, argument: string): void {
  if (Math.min(width, height) < watermarkMinimumSide) {
    throw new InvalidArgumentError({ argument, value: { width, height }, message: `\`${argument}\` must be an image at least ${watermarkMinimumSide} pixels on each side to carry a watermark, got ${width}×${height}; leave smaller images unmarked` });
  }
}

/**
 * A copy of the pixels carrying `payload`, in the same layout; alpha is left alone. Images under
 * `watermarkMinimumSide` on a side are refused: callers skip them (and record no watermark).
 */
export function embedWatermarkPixels(pixels: RawPixels, payload: Uint8Array): RawPixels {
  checkPayload(payload);
  checkPixels(pixels);
  const { data, width, height, channels } = pixels;
  checkWatermarkSize(width, height, 'pixels');
  const coded = encodePayload(payload);
  // The same change goes to R, G and B: it moves luminance alone and leaves the colour as it was.
  const colourChannels = channels >= 3 ? 3 : 1;
  const output = new Uint8Array(data);
  // Writing through a clamped view rounds and clips to 0..255 without a call per channel.
  const clamped = new Uint8ClampedArray(output.buffer, output.byteOffset, output.byteLength);
  const added = new Float32Array(width * height);
  for (let pass = 0; pass < passes; pass++) {
    const projections = projectBlocks(workingGrid(luminance({ data: output, width, height, channels }), width, height));
    const changes = projections.map((value, block) => {
      const offset = (dither[block]! + coded[bitOfBlock[block]!]! / 2) * step;
      return Math.round((value - offset) / step) * step + offset - value;
    });
    const change = fitToImage(spreadBlocks(changes), width, height);
    for (let pixel = 0, offset = 0; pixel < added.length; pixel++, offset += channels) {
      const total = (added[pixel] = added[pixel]! + change[pixel]!);
      for (let channel = 0; channel < colourChannels; channel++) clamped[offset + channel] = data[offset + channel]! + total;
    }
  }
  return { data: output, width, height, channels };
}

/** Gains tried for a brightened or darkened image: about 0.6× to 1.6× in 2.5% steps. */
const gains = Array.from({ length: 40 }, (_, index) => 1.025 ** (index - 20));
/** Gains decoded per framing, best lock first: a brightness change locks one gain and its neighbours. */
const gainsDecoded = 3;
/**
 * How far above chance the blocks must sit near a lattice point before a decode is tried, in
 * standard deviations of chance; with the CRC-32 this keeps random images from ever decoding.
 */
const minimumLock = 6;
/** Cropped fractions per side the reader tries, 0.25% apart: the lock is lost half a working pixel off. */
const cropSteps = Array.from({ length: 100 }, (_, index) => (index + 1) * 0.0025);
/** The blocks the coarse crop search reads: the middle 10 × 10, shown by every framing it tries, and enough for a lock far above chance. */
const middleBlocks: Window = { left: 11, top: 11, right: 21, bottom: 21 };
/** The coarse crop search's lock that is worth a closer look. */
const coarseLock = 4;

/** One way of looking at the image: each block's lattice phase (0 on bit 0's lattice, π on bit 1's) and which blocks it shows. */
interface Reading {
  phase: Float32Array;
  shown: Uint8Array;
  lock: number;
}

function reading(projections: Float32Array, shown: Uint8Array, gain: number): Reading {
  const phase = projections.map((value, block) => 2 * Math.PI * (value / gain / step - dither[block]!));
  // How well the shown blocks sit on a lattice point of either bit, as a z-score against chance.
  let sum = 0;
  let count = 0;
  for (let block = 0; block < blockCount; block++) {
    if (shown[block] === 0) continue;
    sum += Math.cos(2 * phase[block]!);
    count++;
  }
  return { phase, shown, lock: count === 0 ? 0 : (sum / count) * Math.sqrt(2 * count) };
}

/**
 * The readings of one framing worth decoding: the gains that lock best (a brightness change locks
 * one gain and its neighbours), then unchanged brightness, which is tried even unlocked.
 */
function* byGain(projections: Float32Array, shown: Uint8Array): Generator<Reading> {
  const locked = gains.map((gain) => ({ gain, reading: reading(projections, shown, gain) })).sort((a, b) => b.reading.lock - a.reading.lock).slice(0, gainsDecoded);
  for (const candidate of locked) if (candidate.reading.lock >= minimumLock) yield candidate.reading;
  if (!locked.some((candidate) => candidate.gain === 1 && candidate.reading.lock >= minimumLock)) yield reading(projections, shown, 1);
}

/**
 * The readings to decode, most likely first: the whole image (rescaled or recompressed), then the
 * framing of a crop by the same fraction on every side, found by how well its blocks lock onto the
 * lattice. The crop search runs only when the earlier readings did not decode.
 */
function* readings(pixels: RawPixels): Generator<Reading> {
  const { width, height } = pixels;
  const luma = luminance(pixels);
  const whole = workingGrid(luma, width, height);
  yield* byGain(projectBlocks(whole), whole.blockShown);
  const small = shrinkLuminance(luma, width, height, Math.round(1.25 * workingSize));
  const framed = (crop: number, blocks?: Window) => {
    const framing: Framing = { left: crop, top: crop, right: crop, bottom: crop };
    const working = workingGrid(small.luma, small.width, small.height, framing, blocks);
    const projections = projectBlocks(working);
    return { crop, projections, blockShown: working.blockShown, lock: reading(projections, working.blockShown, 1).lock };
  };
  const best = (candidates: ReturnType<typeof framed>[]) => candidates.reduce((a, b) => (b.lock > a.lock ? b : a));
  const coarse = best(cropSteps.map((crop) => framed(crop, middleBlocks)));
  if (coarse.lock < coarseLock) return;
  const fine = best([-4, -3, -2, -1, 0, 1, 2, 3, 4].map((offset) => framed(coarse.crop + offset * 0.0005)));
  yield* byGain(fine.projections, fine.blockShown);
}

function decodeReading({ phase, shown }: Reading): Uint8Array | undefined {
  const soft = new Float32Array(codedBits);
  for (let block = 0; block < blockCount; block++) if (shown[block] === 1) soft[bitOfBlock[block]!] += Math.cos(phase[block]!);
  return decodePayload(soft, watermarkPayloadBytes);
}

/**
 * The payload the pixels carry, or undefined when none is found. The image may have been
 * rescaled, recompressed, brightened or darkened, or cropped by the same fraction on every side.
 */
export function readWatermarkPixels(pixels: RawPixels): { payload: Uint8Array } | undefined {
  checkPixels(pixels);
  for (const candidate of readings(pixels)) {
    const payload = decodeReading(candidate);
    if (payload !== undefined) return { payload };
  }
  return undefined;
}

/**
 * The fraction of blocks whose raw bit (before error correction) matches `payload`'s codeword, as
 * the reader sees the image: at the reading that decodes `payload`, else the best of those it tried.
 * For measuring how much of the mark an edit leaves; 0.5 is chance.
 */
export function watermarkBitAccuracy(pixels: RawPixels, payload: Uint8Array): number {
  checkPayload(payload);
  checkPixels(pixels);
  const coded = encodePayload(payload);
  let best = 0;
  for (const candidate of readings(pixels)) {
    let matching = 0;
    let shown = 0;
    for (let block = 0; block < blockCount; block++) {
      if (candidate.shown[block] === 0) continue;
      shown++;
      if ((Math.cos(candidate.phase[block]!) < 0 ? 1 : 0) === coded[bitOfBlock[block]!]) matching++;
    }
    const accuracy = shown === 0 ? 0 : matching / shown;
    if (decodeReading(candidate)?.every((byte, index) => byte === payload[index])) return accuracy;
    best = Math.max(best, accuracy);
  }
  return best;
}
