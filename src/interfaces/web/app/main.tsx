// The web UI's shell: navigation, client-side routes, the API key prompt, and what the pages share (models, rankers, jobs).
import { render } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { ApiError, api, setUnauthorizedHandler, storedKey, storeKey } from './api.js';
import type { ImageRecord, Model } from './api-types.js';
import type { FormSettings } from './commands.js';
import { EditView, type EditSource } from './edit.js';
import { GenerateView, type SubmittedJob } from './generate.js';
import { HistoryView } from './history.js';
import { KeyDialog } from './key-dialog.js';
import { RecordDetail } from './record-detail.js';
import { Link, navigate } from './router.js';
import './styles.css';

function usePath(): string {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const update = () => setPath(location.pathname);
    addEventListener('popstate', update);
    return () => removeEventListener('popstate', update);
  }, []);
  return path;
}

function App() {
  const path = usePath();
  const [keyRequest, setKeyRequest] = useState<string | undefined>();
  // Bumped when the key changes, so every page loads again with it.
  const [keyVersion, setKeyVersion] = useState(0);
  const [models, setModels] = useState<Model[]>([]);
  const [rankers, setRankers] = useState<string[]>([]);
  const [loadError, setLoadError] = useState<string | undefined>();
  const [jobs, setJobs] = useState<SubmittedJob[]>([]);
  const [preset, setPreset] = useState<{ settings: FormSettings } | undefined>();
  const [editSource, setEditSource] = useState<EditSource | undefined>();

  useEffect(() => {
    setUnauthorizedHandler((error) => setKeyRequest(error.message));
  }, []);

  useEffect(() => {
    setLoadError(undefined);
    Promise.all([api.models(), api.rankers()])
      .then(([modelList, rankerList]) => {
        setModels(modelList.data);
        setRankers(rankerList.data.map((ranker) => ranker.name));
      })
      .catch((error: unknown) => {
        if (!(error instanceof ApiError && error.status === 401)) setLoadError((error as Error).message);
      });
  }, [keyVersion]);

  // Each page's heading names it in the tab, so history and screen readers tell pages apart.
  const page = path === '/' ? 'generate' : path === '/edit' ? 'edit' : path === '/history' ? 'history' : path.startsWith('/history/') ? 'record' : 'missing';
  useEffect(() => {
    document.title = `${{ generate: 'Generate', edit: 'Edit', history: 'History', record: 'Image', missing: 'Not found' }[page]} · pixelpipe`;
  }, [page]);

  const saveKey = (key: string) => {
    storeKey(key);
    setKeyRequest(undefined);
    setKeyVersion((version) => version + 1);
  };
  const forgetKey = () => {
    storeKey(undefined);
    setKeyVersion((version) => version + 1);
  };
  const useSettings = useCallback((settings: FormSettings) => {
    setPreset({ settings });
    navigate('/');
  }, []);
  const editRecord = useCallback((record: ImageRecord) => {
    setEditSource({ kind: 'record', recordId: record.id, blobKey: record.blobKey, width: record.width, height: record.height });
    navigate('/edit');
  }, []);

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="bar">
        <span class="brand">pixelpipe</span>
        <nav aria-label="Pages">
          <Link href="/" aria-current={page === 'generate' ? 'page' : undefined}>
            Generate
          </Link>
          <Link href="/edit" aria-current={page === 'edit' ? 'page' : undefined}>
            Edit
          </Link>
          <Link href="/history" aria-current={page === 'history' || page === 'record' ? 'page' : undefined}>
            History
          </Link>
        </nav>
        <span class="grow" />
        {storedKey() ? (
          <button type="button" class="quiet" onClick={forgetKey}>
            Forget API key
          </button>
        ) : null}
      </header>
      <main id="main" tabIndex={-1}>
        {loadError ? (
          <p role="alert" class="error">
            {loadError}
          </p>
        ) : null}
        {page === 'generate' ? (
          <GenerateView key={keyVersion} models={models} rankers={rankers} jobs={jobs} setJobs={setJobs} preset={preset} />
        ) : page === 'edit' ? (
          <EditView key={keyVersion} models={models} jobs={jobs} setJobs={setJobs} source={editSource} />
        ) : page === 'history' ? (
          <HistoryView key={keyVersion} models={models} />
        ) : page === 'record' ? (
          <RecordDetail key={`${keyVersion}:${path}`} id={decodeURIComponent(path.slice('/history/'.length))} onUse={useSettings} onEdit={editRecord} />
        ) : (
          <section>
            <h1>Not found</h1>
            <p>
              There is no page at {path}. Go to <Link href="/">Generate</Link>, <Link href="/edit">Edit</Link> or <Link href="/history">History</Link>.
            </p>
          </section>
        )}
      </main>
      {keyRequest !== undefined ? <KeyDialog reason={keyRequest} hadKey={Boolean(storedKey())} onSave={saveKey} onClose={() => setKeyRequest(undefined)} /> : null}
    </>
  );
}

render(<App />, document.getElementById('app')!);
