// The mask painter: a canvas the size of the input image laid over it. What is painted shows in a tint colour;
// the mask sent is the canvas's alpha as luminance (white repaints, black keeps), pixel for pixel as painted.
import { useEffect, useImperativeHandle, useRef, useState } from 'preact/hooks';
import type { ComponentChildren, Ref } from 'preact';

/** What the edit page asks of the painter. */
export interface MaskHandle {
  /** The mask as a PNG in the API's `luminance` convention, or undefined when nothing is painted. */
  toPng(): Promise<Blob | undefined>;
}

/** The colour painted areas show in (only their alpha is sent). */
const tint = [232, 23, 93] as const;

/** Steps of undo kept; each is one copy of the canvas's pixels. */
const undoDepth = 30;

export function MaskCanvas({ width, height, imageUrl, handle, onChange, children }: { width: number; height: number; imageUrl: string; handle: Ref<MaskHandle>; onChange: (painted: boolean) => void; children?: ComponentChildren }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [brush, setBrush] = useState(Math.max(4, Math.round(Math.min(width, height) / 12)));
  const [erasing, setErasing] = useState(false);
  const [undo, setUndo] = useState<ImageData[]>([]);
  const last = useRef<{ x: number; y: number } | undefined>(undefined);

  const context = () => canvas.current!.getContext('2d', { willReadFrequently: true })!;
  const painted = () => context().getImageData(0, 0, width, height).data.some((value, index) => index % 4 === 3 && value > 0);
  const changed = () => onChange(painted());
  const remember = () => setUndo((steps) => [...steps.slice(-(undoDepth - 1)), context().getImageData(0, 0, width, height)]);

  // A new image starts with an empty mask and no history.
  useEffect(() => {
    context().clearRect(0, 0, width, height);
    setUndo([]);
    onChange(false);
  }, [imageUrl, width, height]);

  useImperativeHandle(handle, () => ({
    async toPng() {
      const pixels = context().getImageData(0, 0, width, height);
      if (!pixels.data.some((value, index) => index % 4 === 3 && value > 0)) return undefined;
      const mask = new ImageData(width, height);
      for (let index = 0; index < pixels.data.length; index += 4) {
        const alpha = pixels.data[index + 3]!;
        mask.data[index] = mask.data[index + 1] = mask.data[index + 2] = alpha;
        mask.data[index + 3] = 255;
      }
      const out = document.createElement('canvas');
      [out.width, out.height] = [width, height];
      out.getContext('2d')!.putImageData(mask, 0, 0);
      return await new Promise<Blob | undefined>((resolve) => out.toBlob((blob) => resolve(blob ?? undefined), 'image/png'));
    },
  }));

  // Pointer positions in the canvas's own pixels, whatever size it is shown at.
  const point = (event: PointerEvent) => {
    const box = canvas.current!.getBoundingClientRect();
    return { x: ((event.clientX - box.left) * width) / box.width, y: ((event.clientY - box.top) * height) / box.height };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const draw = context();
    draw.globalCompositeOperation = erasing ? 'destination-out' : 'source-over';
    draw.strokeStyle = draw.fillStyle = `rgb(${tint.join(' ')})`;
    draw.lineWidth = brush;
    draw.lineCap = draw.lineJoin = 'round';
    draw.beginPath();
    draw.moveTo(from.x, from.y);
    draw.lineTo(to.x, to.y);
    draw.stroke();
  };
  const down = (event: PointerEvent) => {
    if (event.button !== 0) return;
    canvas.current!.setPointerCapture(event.pointerId);
    remember();
    const at = point(event);
    last.current = at;
    stroke(at, at);
  };
  const move = (event: PointerEvent) => {
    if (!last.current) return;
    const at = point(event);
    stroke(last.current, at);
    last.current = at;
  };
  const up = () => {
    if (!last.current) return;
    last.current = undefined;
    changed();
  };

  const invert = () => {
    remember();
    const pixels = context().getImageData(0, 0, width, height);
    for (let index = 0; index < pixels.data.length; index += 4) {
      [pixels.data[index], pixels.data[index + 1], pixels.data[index + 2]] = tint;
      pixels.data[index + 3] = 255 - pixels.data[index + 3]!;
    }
    context().putImageData(pixels, 0, 0);
    changed();
  };
  const clear = () => {
    remember();
    context().clearRect(0, 0, width, height);
    changed();
  };
  const stepBack = () => {
    const previous = undo.at(-1);
    if (!previous) return;
    context().putImageData(previous, 0, 0);
    setUndo((steps) => steps.slice(0, -1));
    changed();
  };

  return (
    <div class="mask-painter">
      <div class="mask-stage" style={{ aspectRatio: `${width} / ${height}` }}>
        <img src={imageUrl} alt="The input image" width={width} height={height} />
        <canvas
          ref={canvas}
          width={width}
          height={height}
          class={erasing ? 'erasing' : ''}
          aria-label="Mask: drag over the image to paint what should change"
          role="img"
          onPointerDown={down}
          onPointerMove={move}
          onPointerUp={up}
          onPointerCancel={up}
        />
        {children}
      </div>
      <div class="mask-tools" role="group" aria-label="Mask tools">
        <label for="mask-brush">Brush size</label>
        <input id="mask-brush" type="range" min={1} max={Math.max(8, Math.round(Math.max(width, height) / 4))} value={brush} onInput={(event) => setBrush(Number(event.currentTarget.value))} />
        <output for="mask-brush">{brush} px</output>
        <button type="button" class="quiet" aria-pressed={erasing} onClick={() => setErasing(!erasing)}>
          Eraser
        </button>
        <button type="button" class="quiet" onClick={invert}>
          Invert
        </button>
        <button type="button" class="quiet" onClick={clear}>
          Clear
        </button>
        <button type="button" class="quiet" disabled={undo.length === 0} onClick={stepBack}>
          Undo
        </button>
      </div>
    </div>
  );
}
