// The history page: records newest first, filtered by prompt text, model, provider and date, the next page loaded as the end scrolls into view.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import type { ImageRecord, Model } from './api-types.js';
import { RecordGrid } from './record-grid.js';

// Tiles fetch their images only near the viewport, so a page can be long.
const pageSize = 60;

export function HistoryView({ models }: { models: Model[] }) {
  const [prompt, setPrompt] = useState('');
  const [model, setModel] = useState('');
  const [provider, setProvider] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [query, setQuery] = useState<{ prompt: string; model: string; provider: string; since?: string; until?: string }>({ prompt: '', model: '', provider: '' });
  const [records, setRecords] = useState<ImageRecord[]>([]);
  // A cursor belongs to the filter whose page gave it: used with another filter it would skip that filter's first pages.
  const [paging, setPaging] = useState<{ cursor: string; query: typeof query } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const generation = useRef(0);
  const end = useRef<HTMLDivElement>(null);

  // Typing settles for a moment before the filter is asked of the server.
  useEffect(() => {
    // Days are the browser's own: from the start of the first to the end of the last, sent as instants.
    const since = from ? new Date(`${from}T00:00:00`).toISOString() : undefined;
    const until = to ? new Date(`${to}T23:59:59.999`).toISOString() : undefined;
    const timer = setTimeout(() => setQuery({ prompt: prompt.trim(), model, provider, since, until }), 250);
    return () => clearTimeout(timer);
  }, [prompt, model, provider, from, to]);
  // Providers this server serves: `local` for its own models, else the part of a hosted id before the colon.
  const providers = [...new Set(models.map((candidate) => (candidate.id.includes(':') ? candidate.id.split(':')[0]! : 'local')))];

  const load = async (after: string | undefined) => {
    const current = ++generation.current;
    setLoading(true);
    setError(undefined);
    try {
      const page = await api.records({ ...query, cursor: after, limit: pageSize });
      // A newer filter may have started meanwhile; its answer wins.
      if (current !== generation.current) return;
      setRecords((earlier) => (after ? [...earlier, ...page.data] : page.data));
      setPaging(page.next_cursor ? { cursor: page.next_cursor, query } : null);
    } catch (caught) {
      if (current === generation.current) setError((caught as Error).message);
    } finally {
      if (current === generation.current) setLoading(false);
    }
  };

  useEffect(() => {
    setRecords([]);
    setPaging(null);
    void load(undefined);
  }, [query]);

  const cursor = paging?.query === query ? paging.cursor : undefined;
  // Load more when the end of the grid comes near the viewport.
  useEffect(() => {
    const element = end.current;
    if (!element || !cursor || loading) return;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) void load(cursor);
    }, { rootMargin: '400px' });
    observer.observe(element);
    return () => observer.disconnect();
    // `load` reads the filter it was made with, so a new filter needs a new observer even for an equal cursor string.
  }, [cursor, loading, query]);

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
        <div class="field">
          <label for="filter-provider">Provider</label>
          <select id="filter-provider" value={provider} onChange={(event) => setProvider(event.currentTarget.value)}>
            <option value="">All providers</option>
            {providers.map((name) => (
              <option value={name}>{name}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="filter-from">From</label>
          <input id="filter-from" type="date" value={from} max={to || undefined} onInput={(event) => setFrom(event.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="filter-to">To</label>
          <input id="filter-to" type="date" value={to} min={from || undefined} onInput={(event) => setTo(event.currentTarget.value)} />
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
      <RecordGrid records={records} />
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
