// The history grid, windowed: only the rows on screen (and a few around them) are in the page, so ten thousand
// records scroll like a screenful. Rows have one height, measured from a rendered tile; the list keeps its full
// height so the scroll bar and the "load more" point below it stay true. Tab moves through the rendered tiles, and
// the browser scrolls the focused one into view, which renders the next rows.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ImageRecord } from './api-types.js';
import { BlobImage } from './blob-image.js';
import { Link } from './router.js';

/** Narrowest tile and the gap between tiles, in CSS pixels (as in styles.css). */
const minTileWidth = 180;
const gap = 16;
/** Rows rendered above and below the visible ones. */
const overscan = 3;

interface Window {
  columns: number;
  rowHeight: number;
  firstRow: number;
  lastRow: number;
}

export function RecordGrid({ records }: { records: ImageRecord[] }) {
  const list = useRef<HTMLUListElement>(null);
  const [view, setView] = useState<Window>({ columns: 4, rowHeight: 260, firstRow: 0, lastRow: 8 });

  useEffect(() => {
    let frame = 0;
    const measure = () => {
      frame = 0;
      const element = list.current;
      if (!element) return;
      const width = element.parentElement!.clientWidth;
      const columns = Math.max(1, Math.floor((width + gap) / (minTileWidth + gap)));
      const tile = element.querySelector<HTMLElement>('.tile');
      const rowHeight = (tile?.offsetHeight ?? 244) + gap;
      const top = element.parentElement!.getBoundingClientRect().top;
      const firstRow = Math.max(0, Math.floor(-top / rowHeight) - overscan);
      const lastRow = Math.max(firstRow, Math.ceil((innerHeight - top) / rowHeight) + overscan);
      setView((current) => (current.columns === columns && current.rowHeight === rowHeight && current.firstRow === firstRow && current.lastRow === lastRow ? current : { columns, rowHeight, firstRow, lastRow }));
    };
    const schedule = () => {
      if (!frame) frame = requestAnimationFrame(measure);
    };
    addEventListener('scroll', schedule, { passive: true });
    addEventListener('resize', schedule);
    schedule();
    return () => {
      removeEventListener('scroll', schedule);
      removeEventListener('resize', schedule);
      cancelAnimationFrame(frame);
    };
  }, [records.length]);

  const { columns, rowHeight, firstRow, lastRow } = view;
  const rows = Math.ceil(records.length / columns);
  const first = Math.min(records.length, firstRow * columns);
  const shown = records.slice(first, Math.min(records.length, (lastRow + 1) * columns));
  return (
    <div class="grid-window" style={{ height: `${Math.max(0, rows * rowHeight - gap)}px` }}>
      <ul ref={list} class="grid" aria-label="Records, newest first" style={{ gridTemplateColumns: `repeat(${columns}, minmax(0, 1fr))`, transform: `translateY(${firstRow * rowHeight}px)` }}>
        {shown.map((record, index) => (
          <li key={record.id} class="tile" aria-setsize={records.length} aria-posinset={first + index + 1}>
            <Link href={`/history/${record.id}`}>
              <BlobImage blobKey={record.blobKey} alt="" width={record.width} height={record.height} />
              <span class="tile-prompt">{record.request.prompt}</span>
              <span class="tile-meta">
                {record.width}×{record.height} · {new Date(record.createdAt).toLocaleString()}
              </span>
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
