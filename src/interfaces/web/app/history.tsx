// The history page: records newest first, filtered by prompt text and model, the next page loaded as the end scrolls into view.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import type { ImageRecord, Model } from './api-types.js';
import { BlobImage } from './blob-image.js';
import { Link } from './router.js';

const pageSize = 24;

export function HistoryView({ models }: { models: Model[] }) {
  const [prompt, setPrompt] = useState('');
  const [model, setModel] = useState('');
  const [query, setQuery] = useState({ prompt: '', model: '' });
  const [records, setRecords] = useState<ImageRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const generation = useRef(0);
  const end = useRef<HTMLDivElement>(null);

  // Typing settles for a moment before the filter is asked of the server.
  useEffect(() => {
    const timer = setTimeout(() => setQuery({ prompt: prompt.trim(), model }), 250);
    return () => clearTimeout(timer);
  }, [prompt, model]);

  const load = async (after: string | undefined) => {
    const current = ++generation.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.records({ ...query, cursor: after, limit: pageSize });
      // A newer filter may have started meanwhile; its answer wins.
      if (current !== generation.current) return;
      setRecords((earlier) => (after ? [...earlier, ...page.data] : page.data));
      setCursor(page.next_cursor);
    } catch (caught) {
      if (current === generation.current) setError((caught as Error).message);
    } finally {
      if (current === generation.current) setLoading(false);
    }
  };

  useEffect(() => {
    setRecords([]);
    setCursor(null);
    void load(undefined);
  }, [query]);

  // Load more when the end of the grid comes near the viewport.
  useEffect(() => {
    const element = end.current;
    if (!element || !cursor || loading) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void load(cursor);
    }, { rootMargin: '400px' });
    observer.observe(element);
    return () => observer.disconnect();
  }, [cursor, loading]);

  return (
    <section aria-labelledby="history-title">
      <h1 id="history-title">History</h1>
      <form class="filters" role="search" aria-label="Filter records" onSubmit={(event) => event.preventDefault()}>
        <div class="field">
          <label for="filter-prompt">Prompt contains</label>
          <input id="filter-prompt" type="search" value={prompt} onInput={(event) => setPrompt(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="filter-model">Model</label>
          <select id="filter-model" value={model} onChange={(event) => setModel(event.currentTarget.value)}>
            <option value="">All models</option>
            {models.map((candidate) => (
              <option value={candidate.id}>{candidate.id}</option>
            ))}
          </select>
        </div>
      </form>
      {error ? (
        <p role="alert" class="error">
          {error}
        </p>
      ) : null}
      <p class="help" aria-live="polite">
        {loading ? 'Loading…' : records.length === 0 ? 'No records match.' : `${records.length} shown${cursor ? '; more below' : ''}.`}
      </p>
      <ul class="grid" aria-label="Records, newest first">
        {records.map((record) => (
          <li key={record.id} class="tile">
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
      <div ref={end} class="grid-end">
        {cursor ? (
          <button type="button" class="quiet" disabled={loading} onClick={() => void load(cursor)}>
            Load more
          </button>
        ) : null}
      </div>
    </section>
  );
}
