// Writes an Optimum-style tokenizer/ folder (vocab.json, merges.txt, configs) from OpenAI's CLIP BPE file,
// so the full-size benchmark model has the real 49,408-token vocabulary.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readClipBpeFile } from '../src/engine/tokenizer/clip-vocabulary.js';

export async function writeClipTokenizerFolder(gzPath: string, folder: string, padToken: string): Promise<void> {
  const { tokenIds, merges } = await readClipBpeFile(gzPath, padToken);
  const specialTokens = { bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: padToken };
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'vocab.json'), JSON.stringify(tokenIds));
  writeFileSync(join(folder, 'merges.txt'), `#version: 0.2\n${merges.map((pair) => pair.join(' ')).join('\n')}\n`);
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, ...specialTokens }));
  writeFileSync(join(folder, 'special_tokens_map.json'), JSON.stringify(specialTokens));
}
