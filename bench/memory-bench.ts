// `npm run bench:memory`: peak memory of each model part (text encoder run, one UNet call, one VAE decode) and of
// a whole text-to-image, each configuration in a FRESH child process so peaks do not mix. Prints, per
// configuration, RSS after the session(s) loaded (the baseline), the peak RSS of the run (VmHWM), the increase,
// the weights on disk, and the two candidate terms of a submit-time estimate:
//   S_attn = max over attention levels of batch × heads × tokens² × 4 bytes (tokens = latent cells at that level)
//   A_conv = batch × channels of the full-resolution block × h × w × 4 bytes (UNet: latent h×w; VAE: image H×W)
// with the ratios increase ÷ S_attn and increase ÷ A_conv, and a least-squares fit per part.
// It also reports how attention runs in the graphs (op types in the file, and the kernels ONNX Runtime executed).
//
//   node --import tsx bench/memory-bench.ts [--only tiny|full|ops] [--parts unet,vae,text,t2i] [--sizes 512,1024]
//        [--skel-dir /tmp/skel] [--max-attn-gb 12] [--margin-gb 4] [--floor-gb 2] [--threads N] [--arena on|off]
//        [--json FILE] [--no-ops]
// A configuration is skipped when its S_attn exceeds --max-attn-gb, or when the peak predicted from the same part's
// earlier runs would leave less than --margin-gb of MemAvailable; a child is killed if MemAvailable falls under --floor-gb.
//
// The full-size part needs the SD-Turbo skeletons filled (about 5 GB in all) into --skel-dir; they are filled
// from ../shared/fixtures/skeletons when missing. Linux only (/proc/self/status, /proc/self/clear_refs).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { UNetDenoiser } from '../src/engine/denoisers/unet.js';
import { loadModel } from '../src/engine/families/model-loader.js';
import { textToImage } from '../src/engine/pipelines/text-to-image.js';
import { OnnxModel, type OptimizationLevel } from '../src/engine/runtime/onnx-model.js';
import { ClipTextEncoder } from '../src/engine/text-encoders/clip-text-encoder.js';
import { VaeDecoder } from '../src/engine/vae/vae-decoder.js';

const root = resolve(import.meta.dirname, '..');
const shared = resolve(root, '..', 'shared');
const thisFile = resolve(import.meta.dirname, 'memory-bench.ts');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

type Part = 'text' | 'unet' | 'vae' | 't2i';
const partFolder: Record<Exclude<Part, 't2i'>, string> = { text: 'text_encoder', unet: 'unet', vae: 'vae_decoder' };
/** Graph levels loadModel uses: `extended` for the text encoder and UNet, `all` for the VAE decoder. */
const partGraphLevel: Record<Exclude<Part, 't2i'>, OptimizationLevel> = { text: 'extended', unet: 'extended', vae: 'all' };

interface Config {
  model: string;
  /** Folder with text_encoder/, unet/, vae_decoder/ (and, for t2i, the rest of Optimum's layout). */
  folder: string;
  part: Part;
  width: number;
  height: number;
  batch: number;
  threads?: number;
  arena: boolean;
  /** Write an ONNX Runtime profile (executed kernels) instead of measuring memory. */
  profile?: string;
}

/** Fields of /proc/self/status, in bytes. */
interface MemoryStatus {
  rss: number;
  hwm: number;
  anon: number;
  file: number;
  size: number;
  peak: number;
}

interface ChildResult {
  before: MemoryStatus;
  loaded: MemoryStatus;
  afterReset: MemoryStatus;
  afterRun: MemoryStatus;
  /** Resident bytes of memory-mapped files inside the model folder (ONNX Runtime mmaps page-aligned external data). */
  mappedWeightsLoaded: number;
  mappedWeightsAfterRun: number;
  resetWorked: boolean;
  loadMs: number;
  runMs: number;
  outputDims?: readonly number[];
  profileFile?: string;
}

function readStatus(pid: number | 'self' = 'self'): MemoryStatus {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
  return { rss: field('VmRSS'), hwm: field('VmHWM'), anon: field('RssAnon'), file: field('RssFile'), size: field('VmSize'), peak: field('VmPeak') };
}

/** Sum of the Rss of the mappings of files under `folder`, from /proc/self/smaps. */
function mappedResident(folder: string): number {
  let total = 0;
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) inside = header[1]!.startsWith(folder);
    else if (inside && line.startsWith('Rss:')) total += Number(/(\d+) kB/.exec(line)?.[1] ?? 0) * 1024;
  }
  return total;
}

function memAvailable(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? NaN) * 1024;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

/** Bytes of the ONNX files of one part (model.onnx and its external data). */
function weightBytes(folder: string): number {
  return readdirSync(folder).filter((file) => /\.onnx$|_data$|\.data$|\.pb$/.test(file)).reduce((sum, file) => sum + statSync(join(folder, file)).size, 0);
}

// ---------------------------------------------------------------------------------------------------------------
// Child: load one part, record RSS, reset the high-water mark, run once, record the peak.

/** Deterministic pseudo-random values in [-1, 1) (the values do not change memory use). */
function noise(length: number, seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
    values[i] = (state / 2 ** 31) - 1;
  }
  return values;
}

/** Writing 5 to clear_refs resets VmHWM to the current RSS (Linux ≥ 4.0). */
function resetPeak(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

/** Wraps InferenceSession.create (the engine calls it through OnnxModel.load) to turn the arena off or profiling on. */
function patchSessionCreate(config: Config, sessions: ort.InferenceSession[]): void {
  const session = ort.InferenceSession as unknown as { create: (path: string, options?: ort.InferenceSession.SessionOptions) => Promise<ort.InferenceSession> };
  const original = session.create.bind(ort.InferenceSession);
  session.create = async (path, options = {}) => {
    const created = await original(path, {
      ...options,
      ...(config.arena ? {} : { enableCpuMemArena: false }),
      ...(config.profile ? { enableProfiling: true, profileFilePrefix: config.profile } : {}),
    });
    sessions.push(created);
    return created;
  };
}

async function child(config: Config): Promise<void> {
  const sessions: ort.InferenceSession[] = [];
  patchSessionCreate(config, sessions);
  const runtime = config.threads ? { threads: config.threads } : {};
  const h = config.height / 8;
  const w = config.width / 8;
  const before = readStatus();
  const loadStarted = performance.now();
  let run: () => Promise<readonly number[] | undefined>;
  if (config.part === 't2i') {
    const model = await loadModel(config.folder, { ...runtime });
    run = async () => {
      const output = await textToImage(model, { prompt: 'a red cube', negativePrompt: '', width: config.width, height: config.height, steps: 1, guidance: 0, sampler: 'euler', seed: 42n });
      return [output.height, output.width, 3];
    };
  } else {
    const folder = join(config.folder, partFolder[config.part]);
    const model = await OnnxModel.load(join(folder, 'model.onnx'), config.part, runtime, partGraphLevel[config.part]);
    if (config.part === 'text') {
      const vocab = Number(readJson(join(folder, 'config.json')).vocab_size ?? 1000);
      // start token, three words, end token, padded with the end token to 77: what a CLIP tokenizer gives.
      const ids = [vocab - 2, 320, 530, 537, ...new Array<number>(73).fill(vocab - 1)];
      const encoder = new ClipTextEncoder(model);
      const rows = new Array<number[]>(config.batch).fill(ids);
      run = async () => { const out = await encoder.encode(rows); return [out.batch, out.sequenceLength, out.hiddenSize]; };
    } else if (config.part === 'unet') {
      const channelsDim = model.input('sample').shape[1];
      const channels = typeof channelsDim === 'number' ? channelsDim : 4;
      const hiddenDim = model.input('encoder_hidden_states').shape[2];
      const hiddenSize = typeof hiddenDim === 'number' ? hiddenDim : 1024;
      const unet = new UNetDenoiser(model, channels);
      const latent = noise(4 * h * w, 1);
      const context = { hiddenStates: noise(config.batch * 77 * hiddenSize, 2), batch: config.batch, sequenceLength: 77, hiddenSize };
      run = async () => { const out = await unet.predict(latent, { channels: 4, height: h, width: w }, 999, { context }, 7.5); return [1, 4, h, w, out.length]; };
    } else {
      const decoder = new VaeDecoder(model, 0.18215);
      const latent = noise(config.batch * 4 * h * w, 3);
      run = async () => { const out = await decoder.decode(latent, { channels: 4, height: h, width: w }); return [1, 3, out.height, out.width]; };
    }
  }
  const loadMs = performance.now() - loadStarted;
  const weightsFolder = resolve(config.folder);
  const mappedWeightsLoaded = mappedResident(weightsFolder);
  const loaded = readStatus();
  const resetWorked = resetPeak();
  const afterReset = readStatus();
  // Tell the parent the run starts (stdout to a pipe is synchronous on Linux), so it samples the run phase alone.
  process.stdout.write('@@RUN\n');
  const runStarted = performance.now();
  const outputDims = await run();
  const runMs = performance.now() - runStarted;
  const afterRun = readStatus();
  const mappedWeightsAfterRun = mappedResident(weightsFolder);
  let profileFile: string | undefined;
  if (config.profile) {
    for (const session of sessions) (session as unknown as { endProfiling(): void }).endProfiling();
    profileFile = readdirSync(tmpdir()).map((file) => join(tmpdir(), file)).find((file) => file.startsWith(config.profile!) && file.endsWith('.json'));
  }
  const result: ChildResult = { before, loaded, afterReset, afterRun, mappedWeightsLoaded, mappedWeightsAfterRun, resetWorked, loadMs, runMs, outputDims, profileFile };
  process.stdout.write(`@@RESULT ${JSON.stringify(result)}\n`);
  await Promise.all(sessions.map((session) => session.release()));
}

// ---------------------------------------------------------------------------------------------------------------
// The estimate's candidate terms.

interface Terms {
  /** Bytes of the largest attention score matrix: batch × heads × tokens² × 4. */
  sAttn: number;
  /** Bytes of one activation at the full-resolution block. */
  aConv: number;
  /** How S_attn was made, e.g. `L0 5h×4096²`. */
  attnNote: string;
  aNote: string;
}

function unetAttentionLevels(config: Record<string, unknown>): { level: number; heads: number }[] {
  const blocks = (config.down_block_types as string[] | undefined) ?? [];
  // diffusers: num_attention_heads defaults to attention_head_dim, which SD 1.x/2.x configs use for the head COUNT.
  const headsOption = (config.num_attention_heads ?? config.attention_head_dim ?? 8) as number | number[];
  const headsAt = (level: number) => (Array.isArray(headsOption) ? headsOption[level]! : headsOption);
  const levels = blocks.flatMap((type, level) => (type.includes('CrossAttn') ? [{ level, heads: headsAt(level) }] : []));
  const mid = config.mid_block_type === undefined ? 'UNetMidBlock2DCrossAttn' : config.mid_block_type;
  if (typeof mid === 'string' && mid.includes('CrossAttn')) levels.push({ level: blocks.length - 1, heads: headsAt(blocks.length - 1) });
  return levels;
}

function partTerms(folder: string, part: Part, width: number, height: number, batch: number): Terms {
  const h = height / 8;
  const w = width / 8;
  if (part === 'text') {
    const config = readJson(join(folder, 'text_encoder', 'config.json'));
    const heads = Number(config.num_attention_heads);
    return { sAttn: batch * heads * 77 * 77 * 4, aConv: 0, attnNote: `${heads}h×77²`, aNote: '—' };
  }
  if (part === 'unet') {
    const config = readJson(join(folder, 'unet', 'config.json'));
    let best = { bytes: 0, note: '' };
    for (const { level, heads } of unetAttentionLevels(config)) {
      const tokens = Math.ceil(h / 2 ** level) * Math.ceil(w / 2 ** level);
      const bytes = batch * heads * tokens * tokens * 4;
      if (bytes > best.bytes) best = { bytes, note: `L${level} ${heads}h×${tokens}²` };
    }
    const channels = (config.block_out_channels as number[])[0]!;
    return { sAttn: best.bytes, aConv: batch * channels * h * w * 4, attnNote: best.note, aNote: `${channels}ch×${w}×${h}` };
  }
  if (part === 'vae') {
    const config = readJson(join(folder, 'vae_decoder', 'config.json'));
    const channels = (config.block_out_channels as number[])[0]!;
    const tokens = h * w;
    return { sAttn: batch * tokens * tokens * 4, aConv: batch * channels * width * height * 4, attnNote: `mid 1h×${tokens}²`, aNote: `${channels}ch×${width}×${height}` };
  }
  // Whole text-to-image at guidance 0: one UNet row, one decode; the larger of each term.
  const unet = partTerms(folder, 'unet', width, height, 1);
  const vae = partTerms(folder, 'vae', width, height, 1);
  const attn = unet.sAttn >= vae.sAttn ? { v: unet.sAttn, n: `unet ${unet.attnNote}` } : { v: vae.sAttn, n: `vae ${vae.attnNote}` };
  const conv = unet.aConv >= vae.aConv ? { v: unet.aConv, n: `unet ${unet.aNote}` } : { v: vae.aConv, n: `vae ${vae.aNote}` };
  return { sAttn: attn.v, aConv: conv.v, attnNote: attn.n, aNote: conv.n };
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: run each configuration in its own process, sample its RSS from outside as a cross-check, print tables.

interface Row {
  config: Config;
  weights: number;
  terms: Terms;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  result?: ChildResult;
  /** Largest VmRSS the parent saw while the child ran (sampled every 10 ms). */
  sampledRunPeak?: number;
  /** Largest RssAnon the parent saw while the child ran: the activations, without weights paged in from mmapped files. */
  sampledAnonPeak?: number;
  wallMs?: number;
}

function runChild(config: Config, floorBytes: number): Promise<{ result?: ChildResult; sampledRunPeak: number; sampledAnonPeak: number; wallMs: number; error?: string }> {
  return new Promise((resolvePromise) => {
    const started = performance.now();
    const processHandle = spawn(process.execPath, ['--import', 'tsx', thisFile, '--child', JSON.stringify(config)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let running = false;
    let sampledRunPeak = 0;
    let sampledAnonPeak = 0;
    let killedForMemory = false;
    const timer = setInterval(() => {
      try {
        const { rss, anon } = readStatus(processHandle.pid!);
        if (running && rss > sampledRunPeak) sampledRunPeak = rss;
        if (running && anon > sampledAnonPeak) sampledAnonPeak = anon;
      } catch { /* exited */ }
      if (memAvailable() < floorBytes && !killedForMemory) {
        killedForMemory = true;
        processHandle.kill('SIGKILL');
      }
    }, 10);
    processHandle.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes('@@RUN')) running = true;
    });
    processHandle.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    processHandle.on('close', (code, signal) => {
      clearInterval(timer);
      const wallMs = performance.now() - started;
      const line = stdout.split('\n').find((entry) => entry.startsWith('@@RESULT '));
      if (line) resolvePromise({ result: JSON.parse(line.slice('@@RESULT '.length)) as ChildResult, sampledRunPeak, sampledAnonPeak, wallMs });
      else resolvePromise({ sampledRunPeak, sampledAnonPeak, wallMs, error: killedForMemory ? `killed: MemAvailable fell under ${(floorBytes / GiB).toFixed(1)} GiB` : `exit ${code ?? signal}: ${stderr.trim().split('\n').slice(-3).join(' | ')}` });
    });
  });
}

const mib = (bytes: number | undefined) => (bytes === undefined || Number.isNaN(bytes) ? '—' : (bytes / MiB).toFixed(1));
const ratio = (a: number | undefined, b: number) => (a === undefined || b <= 0 ? '—' : (a / b).toFixed(2));
/** Peak VmHWM of the run minus RSS after load: everything the run added, weights paged in included. */
const increase = (row: Row) => (row.result ? row.result.afterRun.hwm - row.result.loaded.rss : undefined);
/**
 * Growth of RssAnon during the run: what the run allocated (activations, arena), without weights paged in from mmapped
 * files. Two lower bounds, the larger taken: the sampled peak RssAnon − RssAnon after load (10 ms sampling can miss a
 * spike), and increase − growth of RssFile (exact when the file pages came in before the peak; VmHWM = max(anon + file)).
 */
const activation = (row: Row) => {
  if (!row.result) return undefined;
  const fromHwm = increase(row)! - (row.result.afterRun.file - row.result.loaded.file);
  return Math.max(fromHwm, row.sampledAnonPeak ? row.sampledAnonPeak - row.result.loaded.anon : 0);
};
const sizeText = (config: Config) => (config.part === 'text' ? '—' : `${config.width}×${config.height}`);

function printRows(title: string, rows: Row[]): string {
  const lines = [
    `### ${title}`,
    '',
    'Memory (MiB). baseline = RSS after the session(s) loaded; increase = peak VmHWM of the run − baseline (VmHWM reset after load); mmapped = resident pages of the model files mapped by ONNX Runtime; activation = growth of RssAnon during the run (the larger of: sampled peak RssAnon − RssAnon after load; increase − growth of RssFile).',
    '',
    '| model | part | W×H | batch | weights | RSS before load | baseline | VmHWM after load | peak VmHWM of run | increase | sampled run peak RSS | RSS after run | mmapped after load | mmapped after run | RssAnon after load | activation | load s | run s |',
    '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const { config, result } = row;
    if (!result) {
      lines.push(`| ${config.model} | ${config.part} | ${sizeText(config)} | ${config.batch} | ${mib(row.weights)} | ${row.status}: ${row.reason ?? ''} | | | | | | | | | | | | |`);
      continue;
    }
    lines.push(`| ${config.model} | ${config.part} | ${sizeText(config)} | ${config.batch} | ${mib(row.weights)} | ${mib(result.before.rss)} | ${mib(result.loaded.rss)} | ${mib(result.loaded.hwm)} | ${mib(result.afterRun.hwm)} | ${mib(increase(row))} | ${mib(row.sampledRunPeak)} | ${mib(result.afterRun.rss)} | ${mib(result.mappedWeightsLoaded)} | ${mib(result.mappedWeightsAfterRun)} | ${mib(result.loaded.anon)} | ${mib(activation(row))} | ${(result.loadMs / 1000).toFixed(1)} | ${(result.runMs / 1000).toFixed(1)} |`);
  }
  const resets = rows.filter((row) => row.result && !row.result.resetWorked).length;
  if (resets > 0) lines.push('', `(VmHWM reset failed in ${resets} run(s): their peak includes the load peak.)`);
  lines.push(
    '',
    'Estimate terms (MiB) and ratios. S_attn = max over attention levels of batch × heads × tokens² × 4 B; A_conv = batch × channels × h × w × 4 B at the full-resolution block (UNet: block_out_channels[0] on the latent; VAE: block_out_channels[0] on the image).',
    '',
    '| model | part | W×H | batch | weights | S_attn | S_attn from | A_conv | A_conv from | increase | inc ÷ S_attn | inc ÷ A_conv | activation | act ÷ S_attn | act ÷ A_conv | VmPeak GiB |',
    '|---|---|---|---:|---:|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const row of rows) {
    const { config, terms, result } = row;
    const inc = increase(row);
    const act = activation(row);
    lines.push(`| ${config.model} | ${config.part} | ${sizeText(config)} | ${config.batch} | ${mib(row.weights)} | ${mib(terms.sAttn)} | ${terms.attnNote} | ${mib(terms.aConv)} | ${terms.aNote} | ${mib(inc)} | ${ratio(inc, terms.sAttn)} | ${ratio(inc, terms.aConv)} | ${mib(act)} | ${ratio(act, terms.sAttn)} | ${ratio(act, terms.aConv)} | ${result ? (result.afterRun.peak / GiB).toFixed(2) : row.status} |`);
  }
  return lines.join('\n');
}

/** Least squares of increase ≈ a·S_attn + b·A_conv + c over one part's runs (Gaussian elimination on the normal equations). */
function fit(rows: Row[], value: (row: Row) => number | undefined): { a: number; b: number; c: number } | undefined {
  const points = rows.filter((row) => value(row) !== undefined).map((row) => [row.terms.sAttn, row.terms.aConv, 1, value(row)!] as const);
  if (points.length < 3) return undefined;
  const m = [0, 1, 2].map((i) => [0, 1, 2, 3].map((j) => points.reduce((sum, p) => sum + p[i]! * p[j]!, 0)));
  for (let col = 0; col < 3; col++) {
    const pivot = m.slice(col).reduce((best, rowValues, index) => (Math.abs(rowValues[col]!) > Math.abs(m[best]![col]!) ? index + col : best), col);
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    if (Math.abs(m[col]![col]!) < 1e-30) return undefined;
    for (let r = 0; r < 3; r++) {
      if (r === col) continue;
      const factor = m[r]![col]! / m[col]![col]!;
      for (let k = col; k < 4; k++) m[r]![k]! -= factor * m[col]![k]!;
    }
  }
  return { a: m[0]![3]! / m[0]![0]!, b: m[1]![3]! / m[1]![1]!, c: m[2]![3]! / m[2]![2]! };
}

function printSummary(rows: Row[]): string {
  const lines = [
    '### Ratios per part',
    '',
    '| model | part | runs | inc ÷ S_attn | inc ÷ A_conv | act ÷ S_attn | act ÷ A_conv | fit increase ≈ a·S_attn + b·A_conv + c | fit activation ≈ a·S_attn + b·A_conv + c |',
    '|---|---|---:|---|---|---|---|---|---|',
  ];
  const groups = new Map<string, Row[]>();
  for (const row of rows) if (row.result) {
    const key = `${row.config.model}|${row.config.part}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  const range = (values: (number | undefined)[]) => {
    const finite = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
    return finite.length === 0 ? '—' : `${Math.min(...finite).toFixed(2)} … ${Math.max(...finite).toFixed(2)}`;
  };
  const fitText = (group: Row[], value: (row: Row) => number | undefined) => {
    const f = fit(group, value);
    const points = group.filter((row) => value(row) !== undefined).length;
    return f ? `a = ${f.a.toFixed(2)}, b = ${f.b.toFixed(2)}, c = ${(f.c / MiB).toFixed(0)} MiB${points === 3 ? ' (3 points: exact)' : ''}` : '—';
  };
  for (const [key, group] of groups) {
    const [model, part] = key.split('|');
    const over = (value: (row: Row) => number | undefined, term: (row: Row) => number) => range(group.filter((row) => term(row) > 0).map((row) => (value(row) ?? NaN) / term(row)));
    const s = (row: Row) => row.terms.sAttn;
    const a = (row: Row) => row.terms.aConv;
    lines.push(`| ${model} | ${part} | ${group.length} | ${over(increase, s)} | ${over(increase, a)} | ${over(activation, s)} | ${over(activation, a)} | ${part === 'text' ? '—' : fitText(group, increase)} | ${part === 'text' ? '—' : fitText(group, activation)} |`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Graph ops: a minimal protobuf read of ModelProto.graph.node (op_type, domain, inputs, outputs).

interface GraphNode { name: string; op: string; domain: string; inputs: string[]; outputs: string[] }

function* protoFields(buffer: Buffer, start: number, end: number): Generator<{ field: number; wire: number; start: number; end: number }> {
  let position = start;
  const varint = () => {
    let value = 0;
    let scale = 1;
    for (;;) {
      const byte = buffer[position++]!;
      value += (byte & 0x7f) * scale;
      if (!(byte & 0x80)) return value;
      scale *= 128;
    }
  };
  while (position < end) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) { varint(); yield { field, wire, start: position, end: position }; }
    else if (wire === 1) { yield { field, wire, start: position, end: position + 8 }; position += 8; }
    else if (wire === 5) { yield { field, wire, start: position, end: position + 4 }; position += 4; }
    else if (wire === 2) { const length = varint(); yield { field, wire, start: position, end: position + length }; position += length; }
    else throw new Error(`protobuf wire type ${wire} not supported`);
  }
}

function graphNodes(path: string): GraphNode[] {
  const buffer = readFileSync(path);
  const nodes: GraphNode[] = [];
  const text = (entry: { start: number; end: number }) => buffer.toString('utf8', entry.start, entry.end);
  const readGraph = (start: number, end: number) => {
    for (const entry of protoFields(buffer, start, end)) {
      if (entry.field !== 1 || entry.wire !== 2) continue; // GraphProto.node
      const node: GraphNode = { name: '', op: '', domain: '', inputs: [], outputs: [] };
      for (const part of protoFields(buffer, entry.start, entry.end)) {
        if (part.wire !== 2) continue;
        if (part.field === 1) node.inputs.push(text(part));
        else if (part.field === 2) node.outputs.push(text(part));
        else if (part.field === 3) node.name = text(part);
        else if (part.field === 4) node.op = text(part);
        else if (part.field === 7) node.domain = text(part);
        else if (part.field === 5) {
          // AttributeProto: g (6) and graphs (11) hold subgraphs (If/Loop bodies).
          for (const attribute of protoFields(buffer, part.start, part.end)) if ((attribute.field === 6 || attribute.field === 11) && attribute.wire === 2) readGraph(attribute.start, attribute.end);
        }
      }
      nodes.push(node);
    }
  };
  for (const entry of protoFields(buffer, 0, buffer.length)) if (entry.field === 7 && entry.wire === 2) readGraph(entry.start, entry.end); // ModelProto.graph
  return nodes;
}

const fusedAttentionOps = ['Attention', 'MultiHeadAttention', 'GroupQueryAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'SparseAttention', 'DecoderMaskedMultiHeadAttention'];

/** Op types around each Softmax: the producers back to the score MatMul and the consumer up to the value MatMul. */
function attentionPatterns(nodes: GraphNode[]): Map<string, number> {
  const producer = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const node of nodes) {
    for (const output of node.outputs) producer.set(output, node);
    for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  }
  const patterns = new Map<string, number>();
  const skip = new Set(['Constant', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Identity']);
  for (const softmax of nodes.filter((node) => node.op === 'Softmax')) {
    const back = (node: GraphNode, depth: number): string => {
      if (node.op === 'MatMul' || depth > 6) return node.op;
      const inputs = node.inputs.map((input) => producer.get(input)).filter((p): p is GraphNode => p !== undefined && !skip.has(p.op));
      if (inputs.length === 0) return node.op;
      const parts = inputs.map((p) => back(p, depth + 1));
      return `${parts.length > 1 ? `(${parts.join(' , ')})` : parts[0]} → ${node.op}`;
    };
    let forward = '';
    let current: GraphNode | undefined = softmax;
    for (let depth = 0; current && depth < 4; depth++) {
      const next: GraphNode | undefined = (consumers.get(current.outputs[0]!) ?? []).find((n) => !skip.has(n.op));
      if (!next) break;
      forward += ` → ${next.op}`;
      if (next.op === 'MatMul') break;
      current = next;
    }
    const pattern = back(softmax, 0) + forward;
    patterns.set(pattern, (patterns.get(pattern) ?? 0) + 1);
  }
  return patterns;
}

interface ProfileEvent { cat: string; name: string; args?: { op_name?: string; output_type_shape?: Record<string, number[]>[]; provider?: string } }

function summariseProfile(file: string): { ops: Record<string, number>; largest: string[] } {
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  const ops: Record<string, number> = {};
  const outputs: { bytes: number; text: string }[] = [];
  const bytesPerElement: Record<string, number> = { float: 4, float16: 2, int64: 8, int32: 4, double: 8, bool: 1 };
  for (const event of events) {
    if (event.cat !== 'Node' || !event.name.endsWith('_kernel_time') || !event.args?.op_name) continue;
    ops[event.args.op_name] = (ops[event.args.op_name] ?? 0) + 1;
    for (const output of event.args.output_type_shape ?? []) {
      for (const [type, shape] of Object.entries(output)) {
        const bytes = shape.reduce((a, b) => a * b, 1) * (bytesPerElement[type] ?? 4);
        outputs.push({ bytes, text: `${event.args.op_name} [${shape.join(',')}] ${(bytes / MiB).toFixed(1)} MiB (${event.name.replace(/_kernel_time$/, '')})` });
      }
    }
  }
  outputs.sort((a, b) => b.bytes - a.bytes);
  const seen = new Set<string>();
  const largest = outputs.filter((o) => { const key = o.text.split(' (')[0]!; if (seen.has(key)) return false; seen.add(key); return true; }).slice(0, 8).map((o) => o.text);
  return { ops, largest };
}

async function graphReport(models: { model: string; folder: string }[], arena: boolean, threads?: number): Promise<string> {
  const lines = ['### Attention in the graphs', ''];
  for (const { model, folder } of models) {
    for (const part of ['text', 'unet', 'vae'] as const) {
      const path = join(folder, partFolder[part], 'model.onnx');
      if (!existsSync(path)) continue;
      const nodes = graphNodes(path);
      const counts: Record<string, number> = {};
      for (const node of nodes) { const key = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.op}` : node.op; counts[key] = (counts[key] ?? 0) + 1; }
      const interesting = ['MatMul', 'Softmax', 'ConstantOfShape', 'Gemm', 'Conv', 'InstanceNormalization', 'LayerNormalization'].filter((op) => counts[op] !== undefined);
      const fusedInFile = Object.keys(counts).filter((key) => key.startsWith('com.microsoft:') || fusedAttentionOps.includes(key));
      lines.push(`**${model} ${partFolder[part]}** (file: ${nodes.length} nodes): ${interesting.map((op) => `${op} ${counts[op]}`).join(', ')}; fused attention / com.microsoft ops: ${fusedInFile.map((op) => `${op} ${counts[op]}`).join(', ') || 'none'}`);
      for (const [pattern, count] of attentionPatterns(nodes)) lines.push(`- ${count}× \`${pattern}\``);
      if (part === 'text') { lines.push(''); continue; }
      // Executed kernels after ONNX Runtime's graph optimisation at the level pixelpipe uses, profiled at 256×256.
      const profile = join(tmpdir(), `memory-bench-profile-${process.pid}-${model}-${part}`);
      const outcome = await runChild({ model, folder, part, width: 256, height: 256, batch: 1, arena, threads, profile }, 0);
      if (outcome.result?.profileFile) {
        const { ops, largest } = summariseProfile(outcome.result.profileFile);
        const shown = ['MatMul', 'FusedMatMul', 'Softmax', 'ConstantOfShape', 'Cast'].filter((op) => ops[op] !== undefined);
        const fusedRun = Object.keys(ops).filter((op) => fusedAttentionOps.includes(op));
        lines.push(`- executed at 256×256, graph level ${partGraphLevel[part]}: ${shown.map((op) => `${op} ${ops[op]}`).join(', ')}; fused attention kernels: ${fusedRun.map((op) => `${op} ${ops[op]}`).join(', ') || 'none'}`);
        lines.push(`- all kernels: ${Object.entries(ops).sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`).join(', ')}`);
        lines.push('- largest outputs at 256×256:');
        for (const entry of largest) lines.push(`  - ${entry}`);
        rmSync(outcome.result.profileFile, { force: true });
      } else {
        lines.push(`- profile failed: ${outcome.error ?? 'no profile file'}`);
      }
      lines.push('');
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------

function fillSkeletons(skelDir: string): void {
  const parts = { text_encoder: 'sd-turbo-text-encoder', unet: 'sd-turbo-unet', vae_decoder: 'sd-turbo-vae-decoder' };
  for (const [part, skeleton] of Object.entries(parts)) {
    const source = join(shared, 'fixtures', 'skeletons', skeleton);
    const target = join(skelDir, part);
    if (!existsSync(join(target, 'model.onnx_data'))) {
      console.log(`filling ${skeleton} → ${target}`);
      execFileSync(process.execPath, [join(shared, 'tools', 'fill-skeleton.mjs'), source, target], { stdio: 'inherit' });
    }
    if (!existsSync(join(target, 'config.json'))) copyFileSync(join(source, 'config.json'), join(target, 'config.json'));
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      only: { type: 'string' },
      parts: { type: 'string', default: 'text,unet,vae,t2i' },
      sizes: { type: 'string' },
      'skel-dir': { type: 'string', default: '/tmp/skel' },
      'max-attn-gb': { type: 'string', default: '12' },
      'margin-gb': { type: 'string', default: '4' },
      'floor-gb': { type: 'string', default: '2' },
      threads: { type: 'string' },
      arena: { type: 'string', default: 'on' },
      json: { type: 'string' },
      'no-ops': { type: 'boolean', default: false },
    },
  });
  if (values.child) return child(JSON.parse(values.child) as Config);

  const threads = values.threads ? Number(values.threads) : undefined;
  const arena = values.arena !== 'off';
  const parts = new Set(values.parts!.split(','));
  const maxAttn = Number(values['max-attn-gb']) * 1e9;
  const margin = Number(values['margin-gb']) * GiB;
  const floor = Number(values['floor-gb']) * GiB;
  const tinyFolder = join(root, 'test-data', 'fixtures', 'tiny-sd15');
  const skelDir = resolve(values['skel-dir']!);
  const runTiny = values.only === undefined || values.only === 'tiny';
  const runFull = values.only === undefined || values.only === 'full';
  const runOps = !values['no-ops'] && (values.only === undefined || values.only === 'ops');

  console.log(`# pixelpipe memory bench — ${new Date().toISOString()}`);
  console.log(`onnxruntime-node ${ort.env.versions.common}, node ${process.version}, threads ${threads ?? 'default'}, CPU arena ${arena ? 'on' : 'off'}; MemAvailable ${(memAvailable() / GiB).toFixed(1)} GiB`);
  if (runFull || (runOps && existsSync(join(shared, 'fixtures', 'skeletons')))) fillSkeletons(skelDir);

  const plan: Config[] = [];
  const sizeFilter = values.sizes ? new Set(values.sizes.split(',').map(Number)) : undefined;
  const add = (model: string, folder: string, part: Part, sizes: number[], batch: number) => {
    if (!parts.has(part)) return;
    for (const size of sizes) if (part === 'text' || !sizeFilter || sizeFilter.has(size)) plan.push({ model, folder, part, width: size, height: size, batch, threads, arena });
  };
  if (runTiny) {
    add('tiny-sd15', tinyFolder, 'text', [0], 1);
    add('tiny-sd15', tinyFolder, 'unet', [256, 512, 768, 1024, 1536], 1);
    add('tiny-sd15', tinyFolder, 'unet', [256, 512, 768, 1024, 1536], 2);
    add('tiny-sd15', tinyFolder, 'vae', [256, 512, 768, 1024, 1536], 1);
    add('tiny-sd15', tinyFolder, 't2i', [256, 512, 1024], 1);
  }
  if (runFull) {
    add('sd-turbo', skelDir, 'text', [0], 1);
    add('sd-turbo', skelDir, 'unet', [256, 512, 768], 1);
    add('sd-turbo', skelDir, 'unet', [512], 2);
    add('sd-turbo', skelDir, 'vae', [256, 512, 768], 1);
  }

  const rows: Row[] = [];
  const started = performance.now();
  const partTimes = new Map<string, number>();
  for (const config of plan) {
    const weights = config.part === 't2i'
      ? ['text_encoder', 'unet', 'vae_decoder'].reduce((sum, part) => sum + weightBytes(join(config.folder, part)), 0)
      : weightBytes(join(config.folder, partFolder[config.part]));
    const terms = partTerms(config.folder, config.part, config.width, config.height, config.batch);
    const row: Row = { config, weights, terms, status: 'ok' };
    rows.push(row);
    const label = `${config.model} ${config.part} ${config.part === 'text' ? '' : `${config.width}×${config.height} `}batch ${config.batch}`;
    if (terms.sAttn > maxAttn) {
      Object.assign(row, { status: 'skipped', reason: `S_attn ${(terms.sAttn / 1e9).toFixed(1)} GB > ${values['max-attn-gb']} GB` });
      console.log(`skip ${label}: ${row.reason}`);
      continue;
    }
    // Predict from the same part's runs so far: the activation (RssAnon growth) per (S_attn + A_conv) of the largest
    // earlier runs (at least 1/4 of the largest; small runs are dominated by fixed costs), plus 10%, 8× when there is
    // none yet; on top of the RSS after load and all the weights (mmapped weights page in during the first run).
    const earlier = rows.filter((r) => r.result && activation(r) !== undefined && r.config.model === config.model && r.config.part === config.part);
    const largest = Math.max(0, ...earlier.map((r) => r.terms.sAttn + r.terms.aConv));
    const perTerm = earlier.filter((r) => r.terms.sAttn + r.terms.aConv >= largest / 4).reduce((most, r) => Math.max(most, (1.1 * activation(r)!) / (r.terms.sAttn + r.terms.aConv)), earlier.length > 0 ? 0 : 8);
    const earlierBase = Math.max(0, ...earlier.map((r) => r.result!.loaded.rss));
    const predicted = earlierBase + weights + perTerm * (terms.sAttn + terms.aConv);
    const available = memAvailable();
    if (predicted > available - margin) {
      Object.assign(row, { status: 'skipped', reason: `predicted ${(predicted / GiB).toFixed(1)} GiB > MemAvailable ${(available / GiB).toFixed(1)} GiB − ${values['margin-gb']} GiB` });
      console.log(`skip ${label}: ${row.reason}`);
      continue;
    }
    console.log(`run  ${label} (MemAvailable ${(available / GiB).toFixed(1)} GiB, predicted peak ≤ ${(predicted / GiB).toFixed(2)} GiB)`);
    const outcome = await runChild(config, floor);
    const key = `${config.model} ${config.part}`;
    partTimes.set(key, (partTimes.get(key) ?? 0) + outcome.wallMs);
    if (!outcome.result) {
      Object.assign(row, { status: 'failed', reason: outcome.error });
      console.log(`     failed: ${outcome.error}`);
      continue;
    }
    Object.assign(row, { result: outcome.result, sampledRunPeak: outcome.sampledRunPeak, sampledAnonPeak: outcome.sampledAnonPeak, wallMs: outcome.wallMs });
    console.log(`     baseline ${mib(outcome.result.loaded.rss)} MiB, peak ${mib(outcome.result.afterRun.hwm)} MiB, increase ${mib(increase(row))} MiB, activation ${mib(activation(row))} MiB; load ${(outcome.result.loadMs / 1000).toFixed(1)} s, run ${(outcome.result.runMs / 1000).toFixed(1)} s, process ${(outcome.wallMs / 1000).toFixed(1)} s`);
  }

  const output: string[] = [];
  for (const model of [...new Set(rows.map((row) => row.config.model))]) output.push(printRows(`${model} (weights = bytes of the part's ONNX files; memory in MiB)`, rows.filter((row) => row.config.model === model)));
  if (rows.length > 0) output.push(printSummary(rows));
  if (partTimes.size > 0) output.push(['### Wall time per part (child processes, incl. start-up and load)', '', ...[...partTimes].map(([key, ms]) => `- ${key}: ${(ms / 1000).toFixed(1)} s`), `- total measurements: ${((performance.now() - started) / 1000).toFixed(1)} s`].join('\n'));
  if (runOps) {
    const opsStarted = performance.now();
    const models = [{ model: 'tiny-sd15', folder: tinyFolder }, ...(existsSync(join(skelDir, 'unet', 'model.onnx_data')) ? [{ model: 'sd-turbo', folder: skelDir }] : [])];
    output.push(await graphReport(models, arena, threads));
    output.push(`(graph report: ${((performance.now() - opsStarted) / 1000).toFixed(1)} s)`);
  }
  console.log(`\n${output.join('\n\n')}`);
  if (values.json) writeFileSync(values.json, JSON.stringify(rows, null, 2));
}

await main();
