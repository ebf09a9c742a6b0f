// Step progress for the terminal: a redrawn bar on a TTY, plain lines otherwise (logs, CI).
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';

export interface ProgressPrinter {
  update(progress: ImageModelProgress): void;
  done(): void;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const whole = Math.round(seconds);
  return `${String(Math.floor(whole / 60)).padStart(2, '0')}:${String(whole % 60).padStart(2, '0')}`;
}

export function createProgressPrinter(stream: NodeJS.WriteStream, totalImages: number): ProgressPrinter {
  const interactive = Boolean(stream.isTTY);
  // Each image's clock starts where the previous image's last step ended; the first image's first
  // step includes prompt encoding, as a user waiting for it experiences.
  let currentImage = 0;
  let imageStartedMs = 0;
  let lastElapsedMs = 0;
  let lastLine = '';
  return {
    update({ imageIndex, step, steps, elapsedMs }) {
      if (imageIndex !== currentImage) {
        currentImage = imageIndex;
        imageStartedMs = lastElapsedMs;
      }
      lastElapsedMs = elapsedMs;
      const seconds = (elapsedMs - imageStartedMs) / 1000;
      const rate = step / Math.max(seconds, 1e-9);
      const eta = (steps - step) / rate;
      const label = totalImages > 1 ? `image ${imageIndex + 1}/${totalImages} ` : '';
      const stats = `step ${step}/${steps} · ${rate.toFixed(2)} steps/s · ETA ${formatDuration(eta)}`;
      if (interactive) {
        const width = 24;
        const filled = Math.round((step / steps) * width);
        lastLine = `\r${label}[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${stats}\x1b[K`;
        stream.write(lastLine);
      } else {
        stream.write(`${label}${stats}\n`);
      }
    },
    done() {
      if (interactive && lastLine) stream.write('\n');
    },
  };
}
