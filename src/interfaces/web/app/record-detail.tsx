// One record: the image, every setting, provenance and moderation, download, "use these settings", and the call that makes it again.
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import type { ImageRecord } from './api-types.js';
import { useBlobUrl } from './blob-image.js';
import { cliCommand, curlCommand, recordSettings, specSnippet, type FormSettings } from './commands.js';
import { Reproduce } from './reproduce.js';
import { Link } from './router.js';

export function RecordDetail({ id, onUse, onEdit }: { id: string; onUse: (settings: FormSettings) => void; onEdit: (record: ImageRecord) => void }) {
  const [record, setRecord] = useState<ImageRecord | undefined>();
  const [error, setError] = useState<string | undefined>();
  useEffect(() => {
    api.record(id).then(setRecord, (caught: Error) => setError(caught.message));
  }, [id]);

  if (error) {
    return (
      <section aria-labelledby="record-title">
        <h1 id="record-title">Image</h1>
        <p role="alert" class="error">
          {error}
        </p>
        <Link href="/history">Back to history</Link>
      </section>
    );
  }
  if (!record) return <p aria-live="polite">Loading…</p>;
  return <Detail record={record} onUse={onUse} onEdit={onEdit} />;
}

function Detail({ record, onUse, onEdit }: { record: ImageRecord; onUse: (settings: FormSettings) => void; onEdit: (record: ImageRecord) => void }) {
  const { url, error } = useBlobUrl(record.blobKey);
  const { request, provenance, ranking } = record;
  const extension = record.mediaType.split('/')[1] ?? 'png';
  const rows: [string, ComponentChildren][] = [
    ['Prompt', request.prompt],
    ['Negative prompt', request.negativePrompt],
    ['Revised prompt', record.revisedPrompt],
    ['Model', record.modelId],
    ['Provider', record.provider],
    ['Model hash', record.modelHash],
    ['Size', `${record.width} × ${record.height}`],
    ['Seed', record.seed],
    ['Steps', request.steps ?? (record.settings.steps as number | undefined)],
    ['Guidance', request.guidance ?? (record.settings.guidance as number | undefined)],
    ['Sampler', request.sampler ?? (record.settings.sampler as string | undefined)],
    ['Decoder', decoderText(record.settings.decoder)],
    ['Image', `${record.imageIndex + 1} of job ${record.jobId ?? '—'}`],
    ['Edited from', record.parentId ? <Link href={`/history/${record.parentId}`}>{`Image ${record.parentId.slice(0, 8)}`}</Link> : undefined],
    ['Created', new Date(record.createdAt).toLocaleString()],
    ['Media type', record.mediaType],
    ['SHA-256', record.sha256],
  ];
  // The rest of the model's settings, without those the rows above already show.
  const shown = new Set(['prompt', 'negativePrompt', 'seed', 'steps', 'guidance', 'sampler', 'decoder', 'width', 'height']);
  const settingRows = Object.entries(record.settings).filter(([name]) => !shown.has(name)).map(([name, value]) => [name, typeof value === 'string' ? value : JSON.stringify(value)] as [string, string]);
  const provenanceRows: [string, ComponentChildren][] = provenance
    ? [
        ['C2PA', provenance.c2pa === 'signed' ? `signed${provenance.signer ? ` by ${provenance.signer}` : ''}` : 'unsigned'],
        ['Watermark', provenance.watermark ?? 'none'],
        ['Moderation', provenance.moderation ? JSON.stringify(provenance.moderation) : 'not screened'],
      ]
    : [['Provenance', 'none recorded']];

  return (
    <section aria-labelledby="record-title" class="detail">
      <p>
        <Link href="/history">← Back to history</Link>
      </p>
      <h1 id="record-title">Image {record.id.slice(0, 8)}</h1>
      <div class="detail-body">
        <figure>
          {url ? <img src={url} alt={request.prompt} width={record.width} height={record.height} class="full" /> : <p>{error ?? 'Loading image…'}</p>}
          <div class="actions">
            {url ? (
              <a class="button" href={url} download={`pixelpipe-${record.id}.${extension}`}>
                Download
              </a>
            ) : null}
            <button type="button" onClick={() => onUse(recordSettings(record))}>
              Use these settings
            </button>
            <button type="button" onClick={() => onEdit(record)}>
              Use as input image
            </button>
          </div>
          <Reproduce record={record} />
        </figure>
        <div>
          <Table caption="Settings" rows={[...rows, ...settingRows.map(([name, value]) => [`settings.${name}`, value] as [string, ComponentChildren])]} />
          <Table caption="Provenance and moderation" rows={provenanceRows} />
          {ranking ? <Table caption="Best-of ranking" rows={[['Ranker', ranking.ranker], ['Score', ranking.score.toFixed(4)], ['Rank', `${ranking.rank} of ${ranking.candidates}`], ['Chosen', ranking.chosen ? 'yes' : 'no (rejected candidate)']]} /> : null}
          {record.warnings.length > 0 ? (
            <>
              <h2>Warnings</h2>
              <ul>
                {record.warnings.map((warning) => (
                  <li>{warning.message ?? `${warning.type}${warning.setting ? `: ${warning.setting}` : ''}${warning.details ? ` (${warning.details})` : ''}`}</li>
                ))}
              </ul>
            </>
          ) : null}
          <Snippet id="cli" title="As a CLI command" text={cliCommand(record)} />
          <Snippet id="curl" title="As a curl call" text={curlCommand(record, location.origin)} />
          <Snippet id="spec" title="As a spec snippet" text={specSnippet(record)} />
        </div>
      </div>
    </section>
  );
}

function Table({ caption, rows }: { caption: string; rows: [string, ComponentChildren][] }) {
  return (
    <table class="settings">
      <caption>{caption}</caption>
      <tbody>
        {rows
          .filter(([, value]) => value !== undefined && value !== '')
          .map(([name, value]) => (
            <tr>
              <th scope="row">{name}</th>
              <td>{value}</td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

function Snippet({ id, title, text }: { id: string; title: string; text: string }) {
  const [status, setStatus] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setStatus('Copied.');
    } catch {
      // Without clipboard access (an insecure origin), select the text so the keyboard can copy it.
      const selection = getSelection();
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(`snippet-${id}`)!);
      selection?.removeAllRanges();
      selection?.addRange(range);
      setStatus('Selected: press Ctrl+C (⌘C) to copy.');
    }
  };
  return (
    <div class="snippet">
      <h2 id={`snippet-${id}-title`}>{title}</h2>
      <pre id={`snippet-${id}`} tabIndex={0} aria-labelledby={`snippet-${id}-title`}>
        {text}
      </pre>
      <button type="button" class="quiet" onClick={copy}>
        Copy {title.replace(/^As an? /, '')}
      </button>
      <span role="status" class="help">
        {status}
      </span>
    </div>
  );
}

/** The fast decoder a record names, as people read it; absent (the model's own VAE) shows no row. */
function decoderText(decoder: unknown): string | undefined {
  const { type, name, sha256 } = (decoder ?? {}) as { type?: string; name?: string; sha256?: string };
  return type === 'fast' ? `Fast (${name ?? 'unnamed'}, ${sha256?.slice(0, 10) ?? '?'}), not the model's VAE` : undefined;
}
