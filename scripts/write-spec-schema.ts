// Regenerates schemas/pixelpipe.schema.json from the zod schema: node --import tsx scripts/write-spec-schema.ts
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatSpecJsonSchema } from '../src/service/specs/json-schema.js';

const target = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'schemas', 'pixelpipe.schema.json');
await mkdir(dirname(target), { recursive: true });
await writeFile(target, formatSpecJsonSchema(), 'utf8');
console.log(`wrote ${target}`);
