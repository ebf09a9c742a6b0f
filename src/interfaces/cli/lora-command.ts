// `pixelpipe lora train | pull | list`: trains a LoRA on a hosted trainer, or pulls one from the hub, into the LoRA folder; lists that folder.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadSettings } from '../../config/settings.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

export const loraUsage = `usage: pixelpipe lora train --images DIR --trigger WORD [--provider replicate|fal] [--name NAME]
         [--steps N] [--rank N] [--learning-rate F] [--destination OWNER/MODEL]
         [--caption-url URL --caption-model M] [--recaption]
       pixelpipe lora pull OWNER/NAME [--file PATH] [--name NAME] [--revision REV] [--json]
       pixelpipe lora list [--json]
  train: checks the images (10 to 50 PNG, JPEG or WebP files, at least 512 px a side, no duplicates),
  captions those without a NAME.txt beside them through an OpenAI-compatible chat endpoint (key from
  PIXELPIPE_VLM_API_KEY; URL and model default to PIXELPIPE_VLM_URL and PIXELPIPE_VLM_MODEL) and appends
  the trigger word, zips images and captions, trains on replicate (ostris/flux-dev-lora-trainer, into
  --destination, a model of yours; REPLICATE_API_TOKEN) or fal (fal-ai/flux-lora-fast-training; FAL_KEY),
  and registers NAME.safetensors and NAME.json in the LoRA folder (PIXELPIPE_LORA_DIR). Ctrl-C cancels
  the hosted training. --recaption captions every image again.
  pull: downloads a LoRA from the Hugging Face Hub (PIXELPIPE_HUB_URL, PIXELPIPE_HUB_TOKEN) into the
  LoRA folder as NAME.safetensors (default: the repo's name) with NAME.json (repo, commit, file,
  licence, trigger word from the card's instance_prompt); checks the hub's hash and that the file is
  a LoRA pixelpipe merges. --file picks among several .safetensors files.
  list: the LoRA folder's name, trigger word, size and SHA-256.`;

function number(name: string, value: string | undefined, integer: boolean): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || (integer && !Number.isInteger(parsed))) {
    throw new InvalidArgumentError({ argument: name, value, message: `\`--${name}\` must be a positive ${integer ? 'whole number' : 'number'}, got ${JSON.stringify(value)}` });
  }
  return parsed;
}

export async function loraCommand(argv: string[]): Promise<void> {
  const [subcommand, ...rest] = argv;
  if (subcommand === 'list') return listCommand(rest);
  if (subcommand === 'train') return trainCommand(rest);
  if (subcommand === 'pull') return pullCommand(rest);
  if (subcommand === undefined || subcommand === '--help' || subcommand === '-h') {
    process.stdout.write(`${loraUsage}\n`);
    return;
  }
  throw new InvalidArgumentError({ argument: 'subcommand', value: subcommand, message: `unknown lora subcommand ${JSON.stringify(subcommand)}; known: train, pull, list\n${loraUsage}` });
}

async function pullCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { file: { type: 'string' }, name: { type: 'string' }, revision: { type: 'string' }, json: { type: 'boolean' } } });
  if (positionals.length !== 1) throw new InvalidArgumentError({ argument: 'REPO', value: positionals, message: `give exactly one hub repository, OWNER/NAME\n${loraUsage}` });
  const settings = loadSettings();
  const { pullLora } = await import('../../service/loras/pull-lora.js');
  let shown = -1;
  const record = await pullLora({
    repoId: positionals[0]!, file: values.file, name: values.name, revision: values.revision, loraDir: settings.loraDir, hubUrl: settings.hubUrl, hubToken: settings.hubToken,
    onProgress: (bytes, total) => {
      const percent = total > 0 ? Math.floor((bytes / total) * 10) * 10 : 100;
      if (!values.json && percent !== shown) process.stderr.write(`downloading: ${percent}%\n`);
      shown = percent;
    },
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
    return;
  }
  const { source, weights } = record;
  process.stdout.write(`${record.name}: ${source.repoId}/${source.file} at ${source.commit.slice(0, 12)} → ${join(settings.loraDir, weights.file)} (${(weights.bytes / 1e6).toFixed(1)} MB, ${weights.tensors} tensors)${record.triggerWord ? `, trigger word ${JSON.stringify(record.triggerWord)}` : ''}${source.license ? `, licence ${source.license}` : ''}\n`);
}

async function listCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' } } });
  const settings = loadSettings();
  const { listLoras } = await import('../../service/loras/lora-folder.js');
  const loras = await listLoras(settings.loraDir);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(loras, null, 2)}\n`);
    return;
  }
  if (loras.length === 0) {
    process.stdout.write(`no LoRAs in ${settings.loraDir}\n`);
    return;
  }
  for (const lora of loras) process.stdout.write(`${lora.name}\t${lora.triggerWord ?? '-'}\t${(lora.bytes / 1e6).toFixed(1)} MB\t${lora.sha256}\n`);
}

async function trainCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      images: { type: 'string' }, trigger: { type: 'string' }, provider: { type: 'string', default: 'replicate' }, name: { type: 'string' },
      steps: { type: 'string' }, rank: { type: 'string' }, 'learning-rate': { type: 'string' }, destination: { type: 'string' },
      'caption-url': { type: 'string' }, 'caption-model': { type: 'string' }, recaption: { type: 'boolean' },
    },
  });
  if (!values.images) throw new InvalidArgumentError({ argument: 'images', value: undefined, message: `\`--images DIR\` is required\n${loraUsage}` });
  if (!values.trigger) throw new InvalidArgumentError({ argument: 'trigger', value: undefined, message: `\`--trigger WORD\` is required\n${loraUsage}` });
  const training = { steps: number('steps', values.steps, true), rank: number('rank', values.rank, true), learningRate: number('learning-rate', values['learning-rate'], false) };
  const settings = loadSettings();
  const [{ createLoraTrainer }, { createImageCaptioner }, { trainLora }] = await Promise.all([
    import('../../providers/training/create-lora-trainer.js'), import('../../service/loras/image-captioner.js'), import('../../service/loras/train-lora.js'),
  ]);
  const trainer = createLoraTrainer(values.provider!, { destination: values.destination });
  const captionUrl = values['caption-url'] ?? settings.vlmUrl;
  const captionModel = values['caption-model'] ?? settings.vlmModel;
  if ((captionUrl === undefined) !== (captionModel === undefined) && (values['caption-url'] || values['caption-model'])) {
    throw new InvalidArgumentError({ argument: 'caption-model', value: captionModel, message: '`--caption-url` and `--caption-model` go together (or PIXELPIPE_VLM_URL and PIXELPIPE_VLM_MODEL)' });
  }
  const captioner = captionUrl && captionModel ? createImageCaptioner({ baseUrl: captionUrl, model: captionModel, apiKey: settings.vlmApiKey }) : undefined;

  // The first Ctrl-C cancels the hosted training (the cancel request is sent); a second one ends at once.
  const controller = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\ninterrupted: cancelling the training (Ctrl-C again to stop now)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  const record = await trainLora({
    imagesDir: values.images,
    triggerWord: values.trigger,
    name: values.name,
    loraDir: settings.loraDir,
    trainer,
    settings: Object.fromEntries(Object.entries(training).filter(([, value]) => value !== undefined)),
    captioner,
    recaption: values.recaption,
    signal: controller.signal,
    onProgress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`${record.name}\t${record.triggerWord}\t${record.weights.sha256}\n`);
}
