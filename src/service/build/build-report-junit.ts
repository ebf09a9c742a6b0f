// The JUnit XML report of `pixelpipe build`: one test suite per spec, one test case per output, for CI test reporters.
import type { BuildReport, OutputReport } from './build-types.js';

/** The report as JUnit XML, the dialect GitHub Actions reporters, GitLab and Jenkins all read. */
export function renderJunit(report: BuildReport): string {
  const suites = [...groupBySpec(report.outputs)].map(([spec, outputs]) => renderSuite(spec, outputs, report.startedAt));
  const failures = report.outputs.filter((output) => output.status === 'failed').length;
  const skipped = report.outputs.filter((output) => output.status === 'skipped').length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    // The total time is the build's wall time, not the sum of the cases: outputs are generated side by side.
    `<testsuites name=${attribute(`pixelpipe build ${report.project}`)} tests="${report.outputs.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(report.durationMs)}" timestamp=${attribute(report.startedAt)}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}

/** Outputs by spec, specs in the order they first appear (the build's order). */
export function groupBySpec(outputs: OutputReport[]): Map<string, OutputReport[]> {
  const groups = new Map<string, OutputReport[]>();
  for (const output of outputs) {
    const group = groups.get(output.spec);
    if (group) group.push(output);
    else groups.set(output.spec, [output]);
  }
  return groups;
}

function renderSuite(spec: string, outputs: OutputReport[], startedAt: string): string {
  const failures = outputs.filter((output) => output.status === 'failed').length;
  const skipped = outputs.filter((output) => output.status === 'skipped').length;
  // A suite's time is the sum of its cases, which is what reporters expect when they add them up.
  const durationMs = outputs.reduce((total, output) => total + output.durationMs, 0);
  return [
    `  <testsuite name=${attribute(spec)} tests="${outputs.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(durationMs)}" timestamp=${attribute(startedAt)}>`,
    ...outputs.map(renderCase),
    '  </testsuite>',
  ].join('\n');
}

function renderCase(output: OutputReport): string {
  // `file` is not in the Ant schema, but GitLab and the GitHub annotators use it to point at the spec; others ignore it.
  const open = `    <testcase classname=${attribute(output.spec)} name=${attribute(output.path)} file=${attribute(output.specFile)} time="${seconds(output.durationMs)}"`;
  switch (output.status) {
    case 'failed': {
      const error = output.error ?? { code: 'unknown', message: `${output.path} failed without recording why` };
      return [
        `${open}>`,
        `      <failure message=${attribute(error.message)} type=${attribute(error.code)}>${text(`${error.code}: ${error.message}\nspec ${output.spec} (${output.specFile}), prompt: ${output.prompt}`)}</failure>`,
        '    </testcase>',
      ].join('\n');
    }
    case 'skipped':
      return [`${open}>`, output.error ? `      <skipped message=${attribute(output.error.message)}/>` : '      <skipped/>', '    </testcase>'].join('\n');
    case 'cached':
    case 'generated':
      return [`${open}>`, `      <system-out>${text(describePass(output))}</system-out>`, '    </testcase>'].join('\n');
  }
}

/** The line a passing case carries, so a CI log says where each image came from without opening the HTML. */
function describePass(output: OutputReport): string {
  const chosen = output.candidates.find((candidate) => candidate.chosen);
  const model = output.model ?? 'the default model';
  const seed = chosen?.seed ?? output.seed;
  const lines =
    output.status === 'cached'
      ? [`cached: ${output.path} was unchanged (key ${output.key}), so it was not generated again; model ${model}, seed ${seed}`]
      : [`generated with model ${model}, seed ${seed}; ${describeChoice(output)}`];
  lines.push(`prompt: ${output.prompt}`);
  if (output.recordId) lines.push(`record: ${output.recordId}`);
  if (output.sha256) lines.push(`sha256: ${output.sha256}`);
  return lines.join('\n');
}

function describeChoice(output: OutputReport): string {
  const chosen = output.candidates.find((candidate) => candidate.chosen);
  if (!chosen) return `${output.candidates.length} candidates, none marked chosen`;
  // Indexes are 0-based, as in pixelpipe.lock's `candidate`, so the two can be read side by side.
  const choice = `chose candidate index ${chosen.index} of ${output.candidates.length}`;
  const by = output.ranker ? ` by ${output.ranker}` : '';
  const score = chosen.score === undefined ? '' : `, score ${formatScore(chosen.score)}`;
  return `${choice}${by}${score}`;
}

/** Scores range from CLIP's ~0.3 to a VLM's 1–10; three decimals tell candidates apart on every scale. */
export function formatScore(score: number): string {
  return Number.isInteger(score) ? String(score) : score.toFixed(3);
}

function seconds(milliseconds: number): string {
  return (milliseconds / 1000).toFixed(3);
}

// XML 1.0 cannot carry these even as character references, so a prompt or error holding one would make the whole file unreadable.
const illegalInXml = /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Replaces characters XML 1.0 forbids with a visible `\xHH` / `\uHHHH`, so the reader sees that something was there. */
function legal(value: string): string {
  return value.replace(illegalInXml, (character) => {
    const code = character.codePointAt(0)!;
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

function text(value: string): string {
  // `>` too, so a `]]>` in a prompt cannot end a section that is not there.
  return legal(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A quoted attribute value; tabs and line breaks become references because parsers turn literal ones into spaces. */
function attribute(value: string): string {
  const escaped = text(value)
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
    .replace(/\t/g, '&#9;')
    .replace(/\n/g, '&#10;')
    .replace(/\r/g, '&#13;');
  return `"${escaped}"`;
}
