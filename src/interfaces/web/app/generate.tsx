// The generate page: the form (checked per model, API errors shown at the field they name) and the jobs it submitted, with live previews.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import type { JobSubmit, Model } from './api-types.js';
import type { FormSettings } from './commands.js';
import { FormEnd, formControls, passesCheck } from './form-fields.js';
import { JobList } from './job-list.js';

/** A job this page submitted, kept by the app so it survives moving between pages. */
export interface SubmittedJob {
  id: string;
  prompt: string;
  images: number;
}

interface Form {
  model: string;
  prompt: string;
  negativePrompt: string;
  width: string;
  height: string;
  steps: string;
  guidance: string;
  sampler: string;
  /** `fast`: the server's small decoder, for drafts (offered where the model's capabilities list it). */
  decoder: '' | 'fast';
  seedMode: 'random' | 'fixed';
  seed: string;
  n: string;
  bestOf: string;
  rankBy: string;
}

/** Fields of the API (its `error.param`) and the control that shows their errors. */
const fieldIds: Record<string, keyof Form> = { model: 'model', prompt: 'prompt', negativePrompt: 'negativePrompt', width: 'width', height: 'height', aspectRatio: 'width', steps: 'steps', guidance: 'guidance', sampler: 'sampler', decoder: 'decoder', seed: 'seed', n: 'n', bestOf: 'bestOf', rankBy: 'rankBy' };

const presetSizes: [number, number][] = [[512, 512], [768, 768], [1024, 1024], [512, 768], [768, 512], [1024, 576], [576, 1024]];

function defaultsOf(model: Model | undefined): Partial<Form> {
  const capabilities = model?.pixelpipe?.capabilities;
  if (!capabilities) return { width: '', height: '', steps: '', guidance: '', sampler: '', decoder: '' };
  return { width: String(capabilities.defaultSize.width), height: String(capabilities.defaultSize.height), steps: String(capabilities.defaultSteps), guidance: String(capabilities.defaultGuidance), sampler: '', decoder: '' };
}

const emptyForm: Form = { model: '', prompt: '', negativePrompt: '', width: '', height: '', steps: '', guidance: '', sampler: '', decoder: '', seedMode: 'random', seed: '', n: '1', bestOf: '', rankBy: '' };

export function GenerateView({ models, rankers, jobs, setJobs, preset }: { models: Model[]; rankers: string[]; jobs: SubmittedJob[]; setJobs: (update: (jobs: SubmittedJob[]) => SubmittedJob[]) => void; preset: { settings: FormSettings } | undefined }) {
  const [form, setForm] = useState<Form>(emptyForm);
  const [errors, setErrors] = useState<Partial<Record<keyof Form, string>>>({});
  const [formError, setFormError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [lastSeed, setLastSeed] = useState<string | undefined>();
  const applied = useRef<unknown>(undefined);

  const model = models.find((candidate) => candidate.id === form.model);
  const capabilities = model?.pixelpipe?.capabilities;
  const set = (field: keyof Form, value: string) => {
    setForm((current) => ({ ...current, [field]: value }));
    setErrors((current) => ({ ...current, [field]: undefined }));
  };

  // The first model, with its defaults, once the list arrives.
  useEffect(() => {
    // Only into fields still empty: what was typed while the list loaded stays.
    if (!form.model && models.length > 0 && !preset) {
      setForm((current) => ({ ...current, model: models[0]!.id, ...Object.fromEntries(Object.entries(defaultsOf(models[0])).filter(([field]) => current[field as keyof Form] === '')) }));
    }
  }, [models]);

  // "Use these settings" from a record.
  useEffect(() => {
    if (!preset || applied.current === preset) return;
    applied.current = preset;
    const { settings } = preset;
    const text = (value: number | string | undefined) => (value === undefined ? '' : String(value));
    setForm((current) => ({
      ...current,
      model: settings.model ?? current.model,
      prompt: settings.prompt,
      negativePrompt: settings.negativePrompt ?? '',
      width: text(settings.width),
      height: text(settings.height),
      steps: text(settings.steps),
      guidance: text(settings.guidance),
      sampler: settings.sampler ?? '',
      decoder: settings.decoder === 'fast' ? 'fast' : '',
      seedMode: settings.seed === undefined ? 'random' : 'fixed',
      seed: settings.seed ?? '',
      n: text(settings.n ?? 1),
      bestOf: '',
      rankBy: '',
    }));
    setErrors({});
    setFormError(undefined);
  }, [preset]);

  const changeModel = (id: string) => {
    setForm((current) => ({ ...current, model: id, ...defaultsOf(models.find((candidate) => candidate.id === id)) }));
    setErrors({});
  };

  const sizes = useMemo(() => {
    const multiple = capabilities?.sizeMultiple ?? 8;
    const all: [number, number][] = capabilities ? [[capabilities.defaultSize.width, capabilities.defaultSize.height], ...presetSizes] : presetSizes;
    return all.filter(([width, height], index) => width % multiple === 0 && height % multiple === 0 && all.findIndex(([w, h]) => w === width && h === height) === index);
  }, [capabilities]);
  const sizeValue = sizes.some(([width, height]) => String(width) === form.width && String(height) === form.height) ? `${form.width}x${form.height}` : 'custom';

  /** Checks what the model's capabilities tell; everything else is left to the API, whose answer is shown at its field. */
  const check = (): Partial<Record<keyof Form, string>> => {
    const found: Partial<Record<keyof Form, string>> = {};
    if (!form.prompt.trim()) found.prompt = 'Write a prompt: what the image should show.';
    const multiple = capabilities?.sizeMultiple;
    for (const side of ['width', 'height'] as const) {
      const text = form[side].trim();
      if (text === '') continue;
      if (!/^\d+$/.test(text)) found[side] = `The ${side} must be a whole number of pixels, got “${text}”.`;
      else if (multiple && Number(text) % multiple !== 0) {
        const lower = Math.max(multiple, Math.floor(Number(text) / multiple) * multiple);
        found[side] = `This model needs a ${side} that is a multiple of ${multiple}; try ${lower} or ${lower + multiple}.`;
      }
    }
    if (form.seedMode === 'fixed' && !/^\d{1,20}$/.test(form.seed.trim())) found.seed = 'A fixed seed is a whole number from 0 to 18446744073709551615.';
    return found;
  };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!passesCheck(check(), { prefix: 'field', setErrors, setFormError })) return;
    const number = (text: string) => (text.trim() === '' ? undefined : Number(text));
    const body: JobSubmit = { prompt: form.prompt, previews: true };
    if (form.model) body.model = form.model;
    if (form.negativePrompt.trim()) body.negativePrompt = form.negativePrompt;
    if (form.width.trim()) body.width = number(form.width);
    if (form.height.trim()) body.height = number(form.height);
    if (form.steps.trim()) body.steps = number(form.steps);
    if (form.guidance.trim()) body.guidance = number(form.guidance);
    if (form.sampler) body.sampler = form.sampler;
    if (form.decoder === 'fast' && capabilities?.decoders.includes('fast')) body.decoder = 'fast';
    if (form.seedMode === 'fixed') body.seed = form.seed.trim();
    if (form.n.trim()) body.n = number(form.n);
    if (form.bestOf.trim()) {
      body.bestOf = number(form.bestOf);
      body.rankBy = form.rankBy || rankers[0];
    }
    setBusy(true);
    try {
      const job = await api.submit(body);
      setJobs((current) => [{ id: job.id, prompt: form.prompt, images: job.request.bestOf ?? job.request.n }, ...current]);
    } catch (error) {
      showError(error);
    } finally {
      setBusy(false);
    }
  };

  const { showError, field, value } = formControls({ prefix: 'field', fields: fieldIds, form, set, errors, setErrors, setFormError });

  return (
    <div class="generate">
      <section aria-labelledby="generate-title" class="panel">
        <h1 id="generate-title">Generate</h1>
        <form onSubmit={submit} noValidate>
          {field('model', 'Model', (props) => (
            <select {...props} value={form.model} onChange={(event) => changeModel(event.currentTarget.value)}>
              {models.length === 0 ? <option value="">Loading models…</option> : null}
              {models.map((candidate) => (
                <option value={candidate.id}>{candidate.id}</option>
              ))}
            </select>
          ), capabilities ? `${capabilities.operations.join(', ')}; sizes in multiples of ${capabilities.sizeMultiple}` : model ? `hosted (${model.owned_by})` : undefined)}
          {field('prompt', 'Prompt', (props) => <textarea {...props} rows={3} required {...value('prompt')} />)}
          {field('negativePrompt', 'Negative prompt', (props) => <textarea {...props} rows={2} {...value('negativePrompt')} />)}
          <fieldset class="size">
            <legend>Size</legend>
            <div class="field">
              <label for="size-preset">Preset</label>
              <select
                id="size-preset"
                value={sizeValue}
                onChange={(event) => {
                  const [width, height] = event.currentTarget.value.split('x');
                  if (width && height) setForm((current) => ({ ...current, width, height }));
                  setErrors((current) => ({ ...current, width: undefined, height: undefined }));
                }}
              >
                {sizes.map(([width, height], index) => (
                  <option value={`${width}x${height}`}>
                    {width} × {height}
                    {index === 0 && capabilities ? ' (model default)' : ''}
                  </option>
                ))}
                <option value="custom">Custom</option>
              </select>
            </div>
            {field('width', 'Width', (props) => <input {...props} inputMode="numeric" {...value('width')} />)}
            {field('height', 'Height', (props) => <input {...props} inputMode="numeric" {...value('height')} />)}
          </fieldset>
          <div class="row">
            {field('steps', 'Steps', (props) => <input {...props} type="number" min={1} {...value('steps')} />)}
            {field('guidance', 'Guidance', (props) => <input {...props} type="number" min={0} max={50} step="0.5" {...value('guidance')} />)}
            {field('sampler', 'Sampler', (props) => (
              <select {...props} value={form.sampler} onChange={(event) => set('sampler', event.currentTarget.value)}>
                <option value="">Model default</option>
                {(capabilities?.samplers ?? []).map((sampler) => (
                  <option value={sampler}>{sampler}</option>
                ))}
              </select>
            ))}
            {capabilities?.decoders.includes('fast') &&
              field('decoder', 'Decoder', (props) => (
                <select {...props} value={form.decoder} onChange={(event) => set('decoder', event.currentTarget.value as Form['decoder'])}>
                  <option value="">Full VAE</option>
                  <option value="fast">Fast (draft)</option>
                </select>
              ))}
            {field('n', 'Images', (props) => <input {...props} type="number" min={1} {...value('n')} />)}
          </div>
          <fieldset class="seed">
            <legend>Seed</legend>
            <div class="choices">
              <label>
                <input type="radio" name="seed-mode" value="random" checked={form.seedMode === 'random'} onChange={() => set('seedMode', 'random')} /> Random
              </label>
              <label>
                <input type="radio" name="seed-mode" value="fixed" checked={form.seedMode === 'fixed'} onChange={() => set('seedMode', 'fixed')} /> Fixed
              </label>
            </div>
            {field('seed', 'Seed value', (props) => <input {...props} inputMode="numeric" disabled={form.seedMode !== 'fixed'} {...value('seed')} />)}
            <button type="button" class="quiet" disabled={lastSeed === undefined} onClick={() => setForm((current) => ({ ...current, seedMode: 'fixed', seed: lastSeed ?? '' }))}>
              {lastSeed === undefined ? 'Reuse last seed' : `Reuse last seed (${lastSeed})`}
            </button>
          </fieldset>
          {rankers.length > 0 ? (
            <fieldset class="row">
              <legend>Best of</legend>
              {field('bestOf', 'Candidates', (props) => <input {...props} type="number" min={1} placeholder="off" {...value('bestOf')} />, 'Generate this many and keep the best of them.')}
              {field('rankBy', 'Ranker', (props) => (
                <select {...props} value={form.rankBy || rankers[0]} onChange={(event) => set('rankBy', event.currentTarget.value)}>
                  {rankers.map((ranker) => (
                    <option value={ranker}>{ranker}</option>
                  ))}
                </select>
              ))}
            </fieldset>
          ) : null}
          <FormEnd error={formError} busy={busy} label="Generate" />
        </form>
      </section>
      <JobList jobs={jobs} onSeed={setLastSeed} empty="Jobs you submit appear here, with a preview at each step." />
    </div>
  );
}
