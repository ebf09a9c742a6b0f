// Outpainting by dragging: a handle on each side of the image grows (or shrinks) the canvas on that side, in steps of
// 8 image pixels; arrow keys move a focused handle by one step. The grown canvas shows as a dashed frame around the image.

/** The sides of a canvas, in the order the form shows them. */
export const sides = ['top', 'right', 'bottom', 'left'] as const;

/** The pixels added on each side of a canvas. */
export type Extension = Record<(typeof sides)[number], number>;

const step = 8;
const limit = 4096;

const arrows: Record<keyof Extension, { grow: string; shrink: string; horizontal: boolean; sign: 1 | -1 }> = {
  top: { grow: 'ArrowUp', shrink: 'ArrowDown', horizontal: false, sign: -1 },
  right: { grow: 'ArrowRight', shrink: 'ArrowLeft', horizontal: true, sign: 1 },
  bottom: { grow: 'ArrowDown', shrink: 'ArrowUp', horizontal: false, sign: 1 },
  left: { grow: 'ArrowLeft', shrink: 'ArrowRight', horizontal: true, sign: -1 },
};

const clamp = (value: number) => Math.max(0, Math.min(limit, Math.round(value / step) * step));

/** Laid inside the image's stage; the image's own size converts drags from screen pixels. */
export function CanvasExtension({ imageWidth, imageHeight, extension, onChange }: { imageWidth: number; imageHeight: number; extension: Extension; onChange: (side: keyof Extension, value: number) => void }) {
  const drag = (side: keyof Extension) => (event: PointerEvent) => {
    if (event.button !== 0) return;
    event.preventDefault();
    const handle = event.currentTarget as HTMLElement;
    handle.setPointerCapture(event.pointerId);
    const stage = handle.closest('.mask-stage')!.getBoundingClientRect();
    const { horizontal, sign } = arrows[side];
    const scale = horizontal ? imageWidth / stage.width : imageHeight / stage.height;
    const [start, from] = [horizontal ? event.clientX : event.clientY, extension[side]];
    const move = (moved: PointerEvent) => onChange(side, clamp(from + sign * ((horizontal ? moved.clientX : moved.clientY) - start) * scale));
    const end = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', end);
      handle.removeEventListener('pointercancel', end);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', end);
    handle.addEventListener('pointercancel', end);
  };
  const key = (side: keyof Extension) => (event: KeyboardEvent) => {
    const { grow, shrink } = arrows[side];
    if (event.key !== grow && event.key !== shrink) return;
    event.preventDefault();
    onChange(side, clamp(extension[side] + (event.key === grow ? step : -step)));
  };
  // The frame's offsets in percent of the image (top and bottom of its height), so it scales with the stage.
  const percent = (value: number, size: number) => `${(-100 * value) / size}%`;
  const grown = Object.values(extension).some((value) => value > 0);
  return (
    <>
      {grown ? <div class="extension-frame" aria-hidden="true" style={{ top: percent(extension.top, imageHeight), right: percent(extension.right, imageWidth), bottom: percent(extension.bottom, imageHeight), left: percent(extension.left, imageWidth) }} /> : null}
      {sides.map((side) => (
        <button
          key={side}
          type="button"
          class={`extend-handle extend-${side}`}
          aria-label={`Extend ${side}: ${extension[side]} px (drag, or arrow keys)`}
          onPointerDown={drag(side)}
          onKeyDown={key(side)}
        />
      ))}
    </>
  );
}
