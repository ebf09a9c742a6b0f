// `pixelpipe verify FILE...`: what each image says about where it came from (C2PA manifest, watermark,
// embedded record) and which record of the data directory its watermark leads to.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ServiceAdmin } from '../../service/admin/service-admin.js';
import type { ProvenanceStep } from '../../service/provenance/c2pa-reading.js';
import type { VerificationReport } from '../../service/provenance/verify-image.js';
import { openAdmin } from './service-data.js';

export const verifyUsage = `usage: pixelpipe verify FILE... [--json] [--data-dir DIR] [--no-records]
  reports each image's C2PA manifest (valid, invalid or absent; signer; actions; ingredients), its
  watermark and the record it leads to in the data directory, and the record the file embeds.
  exit code 1 when a manifest is present but does not validate (or a file is not an image).
  --no-records   do not open the data directory: the watermark's payload is reported without its record`;

function steps(step: ProvenanceStep, indent: string): string[] {
  const lines = [];
  for (const action of step.actions) {
    const source = action.digitalSourceType?.split('/').at(-1);
    lines.push(`${indent}${action.action}${action.softwareAgent ? ` by ${action.softwareAgent}` : ''}${source ? ` (${source})` : ''}`);
  }
  for (const ingredient of step.ingredients) {
    lines.push(`${indent}ingredient ${ingredient.title ?? '(untitled)'} (${ingredient.relationship}${ingredient.hasManifest ? `, its manifest ${ingredient.state ?? 'present'}` : ', no manifest'})`);
    if (ingredient.manifest) lines.push(...steps(ingredient.manifest, `${indent}  `));
  }
  return lines;
}

/** The report of one file as lines a person reads. */
export function describeReport(path: string, report: VerificationReport): string {
  const { c2pa, watermark, record } = report;
  const lines = [`${path}  ${report.mediaType} ${report.width}x${report.height}`];
  if (c2pa.state === 'absent') lines.push('  c2pa: absent');
  else {
    lines.push(`  c2pa: ${c2pa.state}${c2pa.state === 'valid' ? (c2pa.trusted ? ', trusted signer' : ', signer not on a trust list') : ''}${c2pa.signer ? `; signed by ${c2pa.signer}` : ''}${c2pa.claimGenerator ? `; made with ${c2pa.claimGenerator}` : ''}`);
    lines.push(...steps(c2pa, '    '));
    for (const error of c2pa.errors) lines.push(`    error ${error}`);
    if (c2pa.record) lines.push(`    names record ${c2pa.record.recordId}`);
  }
  if (!watermark.found) lines.push('  watermark: none found');
  else lines.push(`  watermark: ${watermark.payload}${watermark.records.length ? ` → record ${watermark.records.map((found) => found.id).join(', ')}` : ' (no record here carries it)'}`);
  lines.push(record ? `  embedded record: ${typeof record.recordId === 'string' ? record.recordId : '(no id)'}${typeof (record.settings as { prompt?: unknown } | undefined)?.prompt === 'string' ? ` "${(record.settings as { prompt: string }).prompt}"` : ''}` : '  embedded record: none');
  return lines.join('\n');
}

export async function verifyCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { json: { type: 'boolean' }, 'data-dir': { type: 'string' }, 'no-records': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${verifyUsage}\n`);
    return;
  }
  if (positionals.length === 0) throw new InvalidArgumentError({ argument: 'FILE', value: positionals, message: `give one or more image files\n${verifyUsage}` });
  const { verifyImage } = await import('../../service/provenance/verify-image.js');
  const admin: ServiceAdmin | undefined = values['no-records'] ? undefined : await openAdmin(values['data-dir']);
  const findRecords = admin && (async (payload: string) => (await admin.listRecords({ watermark: payload, limit: 10 })).records.map(({ id, createdAt }) => ({ id, createdAt })));
  const results: ({ path: string } & (VerificationReport | { error: string }))[] = [];
  try {
    for (const path of positionals) {
      try {
        results.push({ path, ...(await verifyImage(new Uint8Array(await readFile(path)), { name: path, findRecords })) });
      } catch (error) {
        if (!InvalidArgumentError.isInstance(error) && (error as NodeJS.ErrnoException).code === undefined) throw error;
        results.push({ path, error: (error as Error).message });
      }
    }
  } finally {
    await admin?.close();
  }
  if (values.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  else for (const result of results) process.stdout.write(`${'error' in result ? `${result.path}\n  error: ${result.error}` : describeReport(result.path, result)}\n`);
  if (results.some((result) => 'error' in result || result.c2pa.state === 'invalid')) process.exitCode = 1;
}
