// Writes an Optimum-style tokenizer/ folder (vocab.json, merges.txt, configs) from OpenAI's CLIP BPE file,
// so the full-size benchmark model has the real 49,408-token vocabulary.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

/** GPT-2/CLIP byte → printable character table. */
function byteCharacters(): string[] {
  const printable = [...range(33, 126), ...range(161, 172), ...range(174, 255)];
  const characters = new Array<string>(256);
  let extra = 0;
  for (let byte = 0; byte < 256; byte++) characters[byte] = String.fromCodePoint(printable.includes(byte) ? byte : 256 + extra++);
  // vocab order is the printable bytes first, then the rest, as bytes_to_unicode lists them
  return [...printable, ...range(0, 255).filter((byte) => !printable.includes(byte))].map((byte) => characters[byte]!);
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, index) => from + index);
}

export function writeClipTokenizerFolder(gzPath: string, folder: string, padToken: string): void {
  const lines = gunzipSync(readFileSync(gzPath)).toString('utf8').split('\n');
  const merges = lines.slice(1, 49152 - 256 - 2 + 1);
  const characters = byteCharacters();
  const tokens = [...characters, ...characters.map((character) => `${character}</w>`), ...merges.map((merge) => merge.split(' ').join('')), '<|startoftext|>', '<|endoftext|>'];
  mkdirSync(folder, { recursive: true });
  writeFileSync(join(folder, 'vocab.json'), JSON.stringify(Object.fromEntries(tokens.map((token, id) => [token, id]))));
  writeFileSync(join(folder, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: padToken }));
  writeFileSync(join(folder, 'special_tokens_map.json'), JSON.stringify({ bos_token: '<|startoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', pad_token: padToken }));
}
