// The JSON Schema of pixelpipe.yaml for editors (yaml-language-server, VS Code); schemas/pixelpipe.schema.json is this, committed.
import { z } from 'zod';
import { projectSchema } from './spec-schema.js';

/** JSON Schema (draft 2020-12) of the project file; spec files can point at `#/$defs/spec`. */
export function specJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(projectSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}

/** The committed file's exact text. */
export function formatSpecJsonSchema(): string {
  return `${JSON.stringify(specJsonSchema(), null, 2)}\n`;
}
