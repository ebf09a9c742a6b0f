// Tiled VAE decode and encode, as diffusers' AutoencoderKL `enable_vae_tiling()`: the VAE's memory stops growing with the image's area.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

const f32 = Math.fround;

/** When and how the VAE works in tiles. */
export interface VaeTiling {
  /** Side of a tile in pixels (diffusers' `tile_sample_min_size`); a multiple of 4 × the VAE's scale factor (32 for SD). */
  tileSize: number;
  /** Images of more than this many pixels (width × height) are tiled; others go through the VAE whole, exactly as without tiling. */
  minPixels: number;
}

/**
 * 512-pixel tiles as diffusers uses for SD 1.x/2.x, and only above 1024², where one untiled SD VAE
 * mid-block attention matrix (cells² floats) passes 1 GiB; below it the image is exactly diffusers' untiled decode.
 */
export const defaultVaeTiling: VaeTiling = { tileSize: 512, minPixels: 1024 * 1024 };

/** diffusers' `tile_overlap_factor`: neighbouring tiles share a quarter of a tile, blended linearly. */
const overlapFactor = 0.25;

/**
 * The caller's tiling setting (`false` = off, a partial object = defaults for the rest) as the engine uses it, or
 * undefined when tiling is off. Refuses tile sizes whose overlap would not fall on whole latent cells: diffusers
 * truncates those and blends misaligned tiles.
 */
export function resolveVaeTiling(setting: Partial<VaeTiling> | false | undefined, vaeScaleFactor: number): VaeTiling | undefined {
  if (setting === false) return undefined;
  const { tileSize = defaultVaeTiling.tileSize, minPixels = defaultVaeTiling.minPixels } = setting ?? {};
  const multiple = 4 * vaeScaleFactor;
  if (!Number.isInteger(tileSize) || tileSize <= 0 || tileSize % multiple !== 0) {
    const nearest = Math.max(multiple, Math.round(tileSize / multiple) * multiple || multiple);
    throw new InvalidArgumentError({
      argument: 'vaeTiling.tileSize',
      value: tileSize,
      message: `\`vaeTiling.tileSize\` must be a positive multiple of ${multiple} pixels (4 latent cells of ${vaeScaleFactor} px, so that tiles overlap on whole cells), got ${tileSize}; try ${nearest}`,
    });
  }
  if (Number.isNaN(minPixels) || minPixels < 0) {
    throw new InvalidArgumentError({ argument: 'vaeTiling.minPixels', value: minPixels, message: `\`vaeTiling.minPixels\` must be a number of pixels ≥ 0 (images with more pixels are tiled), got ${minPixels}; give \`vaeTiling: false\` to turn tiling off` });
  }
  return { tileSize, minPixels };
}

export interface VaeTilePlan {
  /** Whether the VAE sees this size in tiles. */
  tiled: boolean;
  /** The configured tile side in pixels when tiled; otherwise the larger image side. */
  tileSize: number;
  /** How many VAE runs one decode (or encode) takes. */
  tiles: number;
  /** The largest region the VAE sees at once, in pixels: what its activation memory scales with. */
  tileWidth: number;
  tileHeight: number;
}

/**
 * Whether and how an image of `width` × `height` pixels goes through the VAE in tiles (the same answer for
 * decode and encode). As diffusers, an image no larger than one tile in either side is never tiled.
 */
export function vaeTilePlan(width: number, height: number, tiling: VaeTiling | false | undefined, vaeScaleFactor: number): VaeTilePlan {
  if (!tiling || width * height <= tiling.minPixels || (width <= tiling.tileSize && height <= tiling.tileSize)) {
    return { tiled: false, tileSize: Math.max(width, height), tiles: 1, tileWidth: width, tileHeight: height };
  }
  const { stride } = decodeGeometry(tiling.tileSize, vaeScaleFactor);
  const tiles = Math.ceil(height / vaeScaleFactor / stride) * Math.ceil(width / vaeScaleFactor / stride);
  return { tiled: true, tileSize: tiling.tileSize, tiles, tileWidth: Math.min(width, tiling.tileSize), tileHeight: Math.min(height, tiling.tileSize) };
}

/** A batch-1 tensor in planar [channels, height, width] order. */
export interface PlanarTensor {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** Where tiles start and how much of each is blended and kept; input sides are in the input's cells, output sides in the output's. */
export interface TileGeometry {
  /** Side of an input tile (edge tiles are clipped smaller). */
  inputTile: number;
  /** Step between the starts of neighbouring input tiles. */
  stride: number;
  /** Output rows (columns) of a tile blended with the tile above (left of) it. */
  blendExtent: number;
  /** Output rows and columns kept of each tile, counted from its top left. */
  rowLimit: number;
}

/** diffusers' `tiled_decode` numbers: latent tiles of tileSize / scale cells, every ¾ of a tile, blending a quarter tile of pixels. */
export function decodeGeometry(tileSize: number, vaeScaleFactor: number): TileGeometry {
  const latentTile = Math.floor(tileSize / vaeScaleFactor);
  const blendExtent = Math.floor(tileSize * overlapFactor);
  return { inputTile: latentTile, stride: Math.floor(latentTile * (1 - overlapFactor)), blendExtent, rowLimit: tileSize - blendExtent };
}

/** diffusers' `tiled_encode` numbers: pixel tiles of tileSize, every ¾ of a tile, blending a quarter tile of latent cells. */
export function encodeGeometry(tileSize: number, vaeScaleFactor: number): TileGeometry {
  const latentTile = Math.floor(tileSize / vaeScaleFactor);
  const blendExtent = Math.floor(latentTile * overlapFactor);
  return { inputTile: tileSize, stride: Math.floor(tileSize * (1 - overlapFactor)), blendExtent, rowLimit: latentTile - blendExtent };
}

/**
 * diffusers' `blend_v`, in place on `below`: its first rows fade from the last rows of `above`. Weights are
 * float32 and products rounded before the sum, as torch's tensor × Python-float then + computes them.
 */
export function blendVertical(above: PlanarTensor, below: PlanarTensor, blendExtent: number): PlanarTensor {
  const extent = Math.min(above.height, below.height, blendExtent);
  const width = below.width;
  for (let y = 0; y < extent; y++) {
    const weightAbove = f32(1 - y / extent);
    const weightBelow = f32(y / extent);
    for (let channel = 0; channel < below.channels; channel++) {
      const aboveRow = (channel * above.height + above.height - extent + y) * above.width;
      const belowRow = (channel * below.height + y) * width;
      for (let x = 0; x < width; x++) {
        below.data[belowRow + x] = f32(f32(above.data[aboveRow + x]! * weightAbove) + f32(below.data[belowRow + x]! * weightBelow));
      }
    }
  }
  return below;
}

/** diffusers' `blend_h`, in place on `right`: its first columns fade from the last columns of `left`. */
export function blendHorizontal(left: PlanarTensor, right: PlanarTensor, blendExtent: number): PlanarTensor {
  const extent = Math.min(left.width, right.width, blendExtent);
  const weightsLeft = Float32Array.from({ length: extent }, (_, x) => 1 - x / extent);
  const weightsRight = Float32Array.from({ length: extent }, (_, x) => x / extent);
  for (let channel = 0; channel < right.channels; channel++) {
    for (let y = 0; y < right.height; y++) {
      const leftRow = (channel * left.height + y) * left.width + left.width - extent;
      const rightRow = (channel * right.height + y) * right.width;
      for (let x = 0; x < extent; x++) {
        right.data[rightRow + x] = f32(f32(left.data[leftRow + x]! * weightsLeft[x]!) + f32(right.data[rightRow + x]! * weightsRight[x]!));
      }
    }
  }
  return right;
}

/** The region [top, top + height) × [left, left + width) of a tensor, clipped at its edges. */
export function cropPlanar(tensor: PlanarTensor, top: number, left: number, height: number, width: number): PlanarTensor {
  const rows = Math.min(height, tensor.height - top);
  const columns = Math.min(width, tensor.width - left);
  const data = new Float32Array(tensor.channels * rows * columns);
  for (let channel = 0; channel < tensor.channels; channel++) {
    for (let y = 0; y < rows; y++) {
      const start = (channel * tensor.height + top + y) * tensor.width + left;
      data.set(tensor.data.subarray(start, start + columns), (channel * rows + y) * columns);
    }
  }
  return { data, channels: tensor.channels, height: rows, width: columns };
}

/**
 * Runs `run` over overlapping tiles of `input` and joins its outputs as diffusers' tiled_decode / tiled_encode do:
 * each tile is blended with the already-blended tile above it and then with the already-blended tile to its left,
 * and its top-left rowLimit × rowLimit kept. Tiles run one at a time, so the model only ever sees one tile's worth.
 */
export async function runTiled(input: PlanarTensor, geometry: TileGeometry, run: (tile: PlanarTensor) => Promise<PlanarTensor>): Promise<PlanarTensor> {
  const { inputTile, stride, blendExtent, rowLimit } = geometry;
  const keptRows: PlanarTensor[][] = [];
  // Only the previous row of whole (blended, uncropped) tiles is needed for the next row's vertical blend.
  let rowAbove: PlanarTensor[] = [];
  for (let top = 0; top < input.height; top += stride) {
    const row: PlanarTensor[] = [];
    for (let left = 0; left < input.width; left += stride) {
      const tile = await run(cropPlanar(input, top, left, inputTile, inputTile));
      const column = row.length;
      if (rowAbove.length > 0) blendVertical(rowAbove[column]!, tile, blendExtent);
      if (column > 0) blendHorizontal(row[column - 1]!, tile, blendExtent);
      row.push(tile);
    }
    keptRows.push(row.map((tile) => cropPlanar(tile, 0, 0, rowLimit, rowLimit)));
    rowAbove = row;
  }
  return concatenate(keptRows);
}

/** torch.cat of the kept tiles: along width within a row, then the rows along height. */
function concatenate(rows: PlanarTensor[][]): PlanarTensor {
  const channels = rows[0]![0]!.channels;
  const height = rows.reduce((sum, row) => sum + row[0]!.height, 0);
  const width = rows[0]!.reduce((sum, tile) => sum + tile.width, 0);
  const data = new Float32Array(channels * height * width);
  let top = 0;
  for (const row of rows) {
    let left = 0;
    for (const tile of row) {
      for (let channel = 0; channel < channels; channel++) {
        for (let y = 0; y < tile.height; y++) {
          const start = (channel * tile.height + y) * tile.width;
          data.set(tile.data.subarray(start, start + tile.width), (channel * height + top + y) * width + left);
        }
      }
      left += tile.width;
    }
    top += row[0]!.height;
  }
  return { data, channels, height, width };
}
