// An 8-bit RGB image in memory: what the pixel operations and the pipelines pass around.

export interface RgbImage {
  /** Interleaved RGB bytes, row by row. */
  data: Uint8Array;
  width: number;
  height: number;
}
