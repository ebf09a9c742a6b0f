import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { canny, scribble } from './canny.js';
import { prepareControlImage } from './control-image.js';
import type { RgbImage } from '../image/rgb-image.js';

/** A white filled square [from, to) on black. */
function square(size: number, from: number, to: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = from; y < to; y++) for (let x = from; x < to; x++) data.fill(255, 3 * (y * size + x), 3 * (y * size + x) + 3);
  return { data, width: size, height: size };
}

const isEdge = (image: RgbImage, x: number, y: number) => image.data[3 * (y * image.width + x)] === 255;

test('canny on a filled square: one-pixel lines on its border, nothing inside or outside', () => {
  const edges = canny(square(64, 16, 48));
  // The border lies between pixels 15|16 and 47|48; an edge pixel is within one pixel of it.
  const nearBorder = (v: number) => v === 15 || v === 16 || v === 47 || v === 48;
  const within = (v: number) => v >= 15 && v <= 48;
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      if (!isEdge(edges, x, y)) continue;
      assert.ok(within(x) && within(y) && (nearBorder(x) || nearBorder(y)), `edge pixel at (${x}, ${y}) is off the square's border`);
    }
  }
  // Every side is covered along its length (corners aside), by exactly one pixel across.
  for (let along = 18; along < 46; along++) {
    const left = [15, 16].filter((x) => isEdge(edges, x, along)).length;
    const right = [47, 48].filter((x) => isEdge(edges, x, along)).length;
    const top = [15, 16].filter((y) => isEdge(edges, along, y)).length;
    const bottom = [47, 48].filter((y) => isEdge(edges, along, y)).length;
    assert.deepEqual([left, right, top, bottom], [1, 1, 1, 1], `row/column ${along}`);
  }
});

test('canny thresholds: above the strongest gradient nothing is an edge; a flat image has none', () => {
  const none = canny(square(32, 8, 24), { low: 5000, high: 6000 });
  assert.ok(none.data.every((value) => value === 0));
  const flat = canny({ data: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32 });
  assert.ok(flat.data.every((value) => value === 0));
});

test('scribble: dark lines on white paper become white lines on black', () => {
  const paper = { data: new Uint8Array(16 * 16 * 3).fill(250), width: 16, height: 16 };
  for (let x = 0; x < 16; x++) paper.data.fill(10, 3 * (8 * 16 + x), 3 * (8 * 16 + x) + 3);
  const lines = scribble(paper);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) assert.equal(isEdge(lines, x, y), y === 8);
});

test('a control image of the wrong size is resized to the output size, with a warning', async () => {
  const png = await sharp(Buffer.from(square(32, 8, 24).data), { raw: { width: 32, height: 32, channels: 3 } }).png().toBuffer();
  const prepared = await prepareControlImage(new Uint8Array(png), { type: 'image', width: 64, height: 48 });
  assert.deepEqual([prepared.image.width, prepared.image.height, prepared.image.data.length], [64, 48, 3 * 64 * 48]);
  assert.match(prepared.warning!, /is 32×32; it was resized to the output size 64×48/);
  const same = await prepareControlImage(new Uint8Array(png), { type: 'image', width: 32, height: 32 });
  assert.equal(same.warning, undefined);
  assert.equal(same.image.data[2 * 32 * 32 + 16 * 32 + 16], 1, 'values in [0, 1], planar RGB');
});
