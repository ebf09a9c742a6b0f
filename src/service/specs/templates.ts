// Prompt, path and rubric templates: `{name}` inserts a variable, `{{` and `}}` are literal braces.

/** A piece of a template: text kept as written, or a variable to insert. */
export type TemplatePart = { literal: string } | { variable: string };

/** A parsed template; parsing once lets a spec's templates be checked before any output exists. */
export interface Template {
  source: string;
  parts: TemplatePart[];
  /** Each variable it uses, once, in order of first use. */
  variables: string[];
}

/** What a problem is and how to fix it, before it is placed in a file. */
export interface Complaint {
  problem: string;
  fix: string;
}

/** Names a template may use: matrix axes, data columns and the built-ins (`size`, `spec`, `index`, ...). */
export const variableNamePattern = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Parses `source`; a malformed placeholder is a Complaint saying where in the text and how to write it. */
export function parseTemplate(source: string): Template | Complaint {
  const parts: TemplatePart[] = [];
  const variables: string[] = [];
  let literal = '';
  let position = 0;
  while (position < source.length) {
    const character = source[position];
    if (character === '{' && source[position + 1] === '{') {
      literal += '{';
      position += 2;
    } else if (character === '}' && source[position + 1] === '}') {
      literal += '}';
      position += 2;
    } else if (character === '}') {
      return { problem: `${JSON.stringify(source)} has a lone } at character ${position + 1}`, fix: 'write }} for a literal brace' };
    } else if (character === '{') {
      const end = source.indexOf('}', position + 1);
      if (end === -1) return { problem: `${JSON.stringify(source)} has a { at character ${position + 1} that is never closed`, fix: 'close it as {name}, or write {{ for a literal brace' };
      const name = source.slice(position + 1, end);
      if (!variableNamePattern.test(name)) {
        return { problem: `${JSON.stringify(source)} has ${JSON.stringify(`{${name}}`)}, which is not a variable name`, fix: 'write {name} with a letter or _ first and no spaces, or {{ and }} for literal braces' };
      }
      if (literal !== '') parts.push({ literal });
      literal = '';
      parts.push({ variable: name });
      if (!variables.includes(name)) variables.push(name);
      position = end + 1;
    } else {
      literal += character;
      position += 1;
    }
  }
  if (literal !== '') parts.push({ literal });
  return { source, parts, variables };
}

/** True when `parseTemplate` refused the text. */
export function isComplaint(value: Template | Complaint): value is Complaint {
  return 'problem' in value;
}

/** Fills in a template; `lookup` is asked only for the variables it uses, which the caller has already checked exist. */
export function renderTemplate(template: Template, lookup: (name: string) => string): string {
  let text = '';
  for (const part of template.parts) text += 'literal' in part ? part.literal : lookup(part.variable);
  return text;
}
