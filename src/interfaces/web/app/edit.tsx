// The edit page: an input image (a file picked or dropped, or a record), a mask painted over it, image-to-image strength and
// canvas extension for outpainting. It submits one `POST /v1/jobs` with the image, the mask as painted and `parentRecordId`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import type { JobSubmit, Model } from './api-types.js';
import { useBlobUrl } from './blob-image.js';
import type { SubmittedJob } from './generate.js';
import { JobList } from './job-list.js';
import { CanvasExtension, sides, type Extension } from './canvas-extension.js';
import { FormEnd, formControls, passesCheck } from './form-fields.js';
import { MaskCanvas, type MaskHandle } from './mask-canvas.js';

/** Where the input image comes from: a stored blob (a record's), or a file from this browser. */
export type EditSource = { kind: 'record'; recordId: string; blobKey: string; width: number; height: number } | { kind: 'file'; name: string; dataUrl: string; width: number; height: number };


interface Form {
  model: string;
  prompt: string;
  negativePrompt: string;
  strength: string;
  seed: string;
  top: string;
  right: string;
  bottom: string;
  left: string;
}

const emptyForm: Form = { model: '', prompt: '', negativePrompt: '', strength: '', seed: '', top: '', right: '', bottom: '', left: '' };

/** Fields of the API (its `error.param`, up to the first dot) and the control that shows their errors. */
const fieldOf: Record<string, keyof Form | 'image' | 'mask'> = { model: 'model', prompt: 'prompt', negativePrompt: 'negativePrompt', strength: 'strength', seed: 'seed', images: 'image', mask: 'mask', extend: 'top' };

const accepted = ['image/png', 'image/jpeg', 'image/webp'];

/** Reads a picked or dropped file: its data URL (the API takes one as `b64_json`) and its size. */
async function readFile(file: File): Promise<EditSource> {
  if (!accepted.includes(file.type)) throw new Error(`“${file.name}” is ${file.type || 'not an image'}; pick a PNG, JPEG or WebP file.`);
  const dataUrl = await blobToDataUrl(file, `“${file.name}” could not be read`);
  const image = new Image();
  image.src = dataUrl;
  await image.decode().catch(() => {
    throw new Error(`“${file.name}” does not decode as an image; pick a PNG, JPEG or WebP file.`);
  });
  return { kind: 'file', name: file.name, dataUrl, width: image.naturalWidth, height: image.naturalHeight };
}

export function EditView({ models, jobs, setJobs, source: given }: { models: Model[]; jobs: SubmittedJob[]; setJobs: (update: (jobs: SubmittedJob[]) => SubmittedJob[]) => void; source: EditSource | undefined }) {
  const [source, setSource] = useState<EditSource | undefined>(given);
  const [form, setForm] = useState<Form>(emptyForm);
  const [errors, setErrors] = useState<Partial<Record<keyof Form | 'image' | 'mask', string>>>({});
  const [formError, setFormError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [painted, setPainted] = useState(false);
  const [dragging, setDragging] = useState(false);
  const mask = useRef<MaskHandle>(null);
  const stored = useBlobUrl(source?.kind === 'record' ? source.blobKey : undefined);
  const imageUrl = source?.kind === 'file' ? source.dataUrl : stored.url;

  useEffect(() => setSource(given), [given]);
  // The first model that edits, once the list arrives.
  useEffect(() => {
    if (form.model) return;
    const editing = models.find((model) => model.pixelpipe?.capabilities?.operations.some((operation) => operation !== 'text-to-image')) ?? models[0];
    if (editing) setForm((current) => ({ ...current, model: editing.id }));
  }, [models]);

  const set = (field: keyof Form, value: string) => {
    setForm((current) => ({ ...current, [field]: value }));
    setErrors((current) => ({ ...current, [field]: undefined }));
  };
  const take = async (file: File | undefined) => {
    if (!file) return;
    setErrors((current) => ({ ...current, image: undefined, mask: undefined }));
    try {
      setSource(await readFile(file));
    } catch (error) {
      setErrors((current) => ({ ...current, image: (error as Error).message }));
    }
  };

  const check = (): Partial<Record<keyof Form | 'image', string>> => {
    const found: Partial<Record<keyof Form | 'image', string>> = {};
    if (!source) found.image = 'Pick an image to edit, drop one here, or open a record and choose “Use as input image”.';
    if (!form.prompt.trim()) found.prompt = 'Write a prompt: what the edited image should show.';
    const strength = form.strength.trim();
    if (strength && !(Number(strength) > 0 && Number(strength) <= 1)) found.strength = `Strength is a number above 0 and at most 1, got “${strength}”.`;
    for (const side of sides) {
      const text = form[side].trim();
      if (text && !/^\d+$/.test(text)) found[side] = `Extend the ${side} by a whole number of pixels, got “${text}”.`;
    }
    if (form.seed.trim() && !/^\d{1,20}$/.test(form.seed.trim())) found.seed = 'A seed is a whole number from 0 to 18446744073709551615; leave it empty for a random one.';
    return found;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!passesCheck(check(), { prefix: 'edit', setErrors, setFormError })) return;
    setBusy(true);
    try {
      const body: JobSubmit = { prompt: form.prompt, previews: true };
      if (form.model) body.model = form.model;
      if (form.negativePrompt.trim()) body.negativePrompt = form.negativePrompt;
      if (form.strength.trim()) body.strength = Number(form.strength);
      if (form.seed.trim()) body.seed = form.seed.trim();
      body.images = [source!.kind === 'record' ? { blobKey: source!.blobKey } : { b64_json: source!.dataUrl }];
      if (source!.kind === 'record') body.parentRecordId = source!.recordId;
      const maskPng = await mask.current?.toPng();
      if (maskPng) {
        body.mask = { b64_json: await blobToDataUrl(maskPng, 'the mask could not be read') };
        body.maskConvention = 'luminance';
      }
      const extend = Object.fromEntries(sides.filter((side) => Number(form[side]) > 0).map((side) => [side, Number(form[side])])) as Partial<Extension>;
      if (Object.keys(extend).length > 0) body.extend = extend;
      const job = await api.submit(body);
      setJobs((current) => [{ id: job.id, prompt: form.prompt, images: job.request.n }, ...current]);
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  };

  const { showError, field, value } = formControls({ prefix: 'edit', fields: fieldOf, form, set, errors, setErrors, setFormError });
  const problem = (name: 'image' | 'mask') =>
    errors[name] ? (
      <p id={`edit-${name}-error`} class="field-error" data-field={name} role="alert">
        {errors[name]}
      </p>
    ) : null;

  return (
    <div class="generate">
      <section aria-labelledby="edit-title" class="panel">
        <h1 id="edit-title">Edit</h1>
        <form onSubmit={submit} noValidate>
          <div
            class={`drop${dragging ? ' dragging' : ''}`}
            onDragOver={(event) => {
              event.preventDefault();
              setDragging(true);
            }}
            onDragLeave={() => setDragging(false)}
            onDrop={(event) => {
              event.preventDefault();
              setDragging(false);
              void take(event.dataTransfer?.files[0]);
            }}
          >
            <label for="edit-image">Input image</label>
            <input id="edit-image" type="file" accept={accepted.join(',')} aria-describedby={errors.image ? 'edit-image-error' : 'edit-image-help'} onChange={(event) => void take(event.currentTarget.files?.[0])} />
            <p id="edit-image-help" class="help">
              {source ? `${source.kind === 'file' ? source.name : `Record ${source.recordId.slice(0, 8)}`}, ${source.width} × ${source.height}.` : 'Or drop a PNG, JPEG or WebP file here.'}
            </p>
            {problem('image')}
          </div>
          {source && imageUrl ? (
            <MaskCanvas width={source.width} height={source.height} imageUrl={imageUrl} handle={mask} onChange={setPainted}>
              <CanvasExtension
                imageWidth={source.width}
                imageHeight={source.height}
                extension={{ top: Number(form.top) || 0, right: Number(form.right) || 0, bottom: Number(form.bottom) || 0, left: Number(form.left) || 0 }}
                onChange={(side, pixels) => set(side, pixels > 0 ? String(pixels) : '')}
              />
            </MaskCanvas>
          ) : null}
          {problem('mask')}
          <p class="help" aria-live="polite">
            {source ? (painted ? 'Painted areas are repainted; the rest is kept.' : 'Nothing painted: the whole image changes by the strength below (image-to-image), unless the canvas is extended.') : ''}
          </p>
          {field('model', 'Model', (props) => (
            <select {...props} value={form.model} onChange={(event) => set('model', event.currentTarget.value)}>
              {models.length === 0 ? <option value="">Loading models…</option> : null}
              {models.map((candidate) => (
                <option value={candidate.id}>{candidate.id}</option>
              ))}
            </select>
          ))}
          {field('prompt', 'Prompt', (props) => <textarea {...props} rows={3} required {...value('prompt')} />)}
          {field('negativePrompt', 'Negative prompt', (props) => <textarea {...props} rows={2} {...value('negativePrompt')} />)}
          <div class="row">
            {field('strength', 'Strength', (props) => <input {...props} type="number" min={0.01} max={1} step="0.05" placeholder="model default" {...value('strength')} />, 'How much changes: near 0 keeps the image, 1 redraws it.')}
            {field('seed', 'Seed', (props) => <input {...props} inputMode="numeric" placeholder="random" {...value('seed')} />)}
          </div>
          <fieldset class="row">
            <legend>Extend the canvas (outpainting), in pixels</legend>
            {sides.map((side) => field(side, side[0]!.toUpperCase() + side.slice(1), (props) => <input {...props} inputMode="numeric" placeholder="0" {...value(side)} />))}
          </fieldset>
          <FormEnd error={formError} busy={busy} label="Edit image" />
        </form>
      </section>
      <JobList jobs={jobs} onSeed={() => undefined} empty="Edits you submit appear here, with a preview at each step." />
    </div>
  );
}

function blobToDataUrl(blob: Blob, failure: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error ?? new Error(failure));
    reader.readAsDataURL(blob);
  });
}
