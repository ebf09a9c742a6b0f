// The contact sheet of `pixelpipe build`: one static HTML page showing every output's winner beside the candidates it beat.
import type { BuildReport, CandidateReport, OutputReport } from './build-types.js';
import { formatScore, groupBySpec } from './build-report-junit.js';

/** A thumbnail written beside the page, or why there is none. */
export type Thumbnail = { kind: 'image'; src: string; width: number; height: number } | { kind: 'placeholder'; reason: string };

/** The thumbnails the page shows; an image without an entry gets a placeholder. */
export interface ContactSheetThumbnails {
  winners: Map<OutputReport, Thumbnail>;
  candidates: Map<CandidateReport, Thumbnail>;
}

/** The whole page: inline CSS, no scripts, images only by relative path, so it opens from a CI artifact offline. */
export function renderContactSheet(report: BuildReport, thumbnails: ContactSheetThumbnails): string {
  const anchors = new Map(report.outputs.map((output, position) => [output, `output-${position}`]));
  const failed = report.outputs.filter((output) => output.status === 'failed');
  const sections = [...groupBySpec(report.outputs)].map(([spec, outputs]) => {
    const articles = outputs.map((output) => renderOutput(output, anchors.get(output)!, thumbnails));
    return [
      `<section class="spec">`,
      `<h2>${escape(spec)} <span class="muted">${escape(outputs[0]!.specFile)}</span></h2>`,
      `<p class="muted">${escape(describeCounts(outputs))}</p>`,
      ...articles,
      `</section>`,
    ].join('\n');
  });
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // The page shows prompts and model output verbatim; should escaping ever miss, nothing it injects may run.
    `<meta http-equiv="Content-Security-Policy" content="script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'none'">`,
    `<title>${escape(`pixelpipe build: ${report.project}`)}</title>`,
    `<style>${styles}</style>`,
    '</head>',
    '<body>',
    '<header>',
    `<h1>${escape(report.project)}</h1>`,
    renderSummary(report),
    failed.length === 0
      ? ''
      : `<p class="failed-list">Failed: ${failed.map((output) => `<a href="#${anchors.get(output)}">${escape(output.path)}</a>`).join(', ')}</p>`,
    '</header>',
    '<main>',
    ...sections,
    '</main>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

function renderSummary(report: BuildReport): string {
  const entries: [string, string][] = [
    ['Outputs', String(report.outputs.length)],
    ['Generated', String(report.counts.generated)],
    ['Cached', String(report.counts.cached)],
    ['Failed', String(report.counts.failed)],
    ['Skipped', String(report.counts.skipped)],
    ['Duration', formatDuration(report.durationMs)],
    ['Backend', report.backend],
    ['Started', report.startedAt],
    ['Finished', report.finishedAt],
  ];
  return `<dl class="summary">${entries.map(([term, value]) => `<div><dt>${term}</dt><dd>${escape(value)}</dd></div>`).join('')}</dl>`;
}

function renderOutput(output: OutputReport, anchor: string, thumbnails: ContactSheetThumbnails): string {
  const chosen = output.candidates.find((candidate) => candidate.chosen);
  const rejected = output.candidates.filter((candidate) => !candidate.chosen);
  // Failed and skipped outputs have no file; their box says why instead of showing a stale image.
  const winner =
    output.status === 'generated' || output.status === 'cached'
      ? thumbnails.winners.get(output)
      : ({ kind: 'placeholder', reason: output.status } as const);
  const details: [string, string | undefined][] = [
    ['Prompt', output.prompt],
    ['Negative prompt', output.negativePrompt],
    ['Model', output.model],
    ['Seed', chosen?.seed ?? output.seed],
    ['Size', `${output.width}×${output.height}`],
    ['Ranker', output.ranker],
    ['Score', chosen?.score === undefined ? undefined : formatScore(chosen.score)],
    ['Rank', chosen?.rank === undefined ? undefined : String(chosen.rank)],
    ['Candidate', chosen === undefined ? undefined : `index ${chosen.index} of ${output.candidates.length}`],
    ['Ranker’s reason', chosen?.reason],
    ['Duration', output.status === 'cached' ? undefined : formatDuration(output.durationMs)],
    ['Record', output.recordId],
    ['SHA-256', output.sha256],
    ['Key', output.key],
  ];
  return [
    `<article id="${anchor}" class="output status-${output.status}">`,
    `<figure class="winner">${renderImage(winner, output.path, 'winner')}</figure>`,
    '<div class="details">',
    `<h3>${escape(output.path)} <span class="status">${escape(output.status)}</span></h3>`,
    output.error ? `<p class="error"><code>${escape(output.error.code)}</code> ${escape(output.error.message)}</p>` : '',
    `<dl>${details
      .filter((entry): entry is [string, string] => entry[1] !== undefined)
      .map(([term, value]) => `<dt>${term}</dt><dd>${escape(value)}</dd>`)
      .join('')}</dl>`,
    '</div>',
    rejected.length === 0 ? '' : renderCandidates(rejected, output.path, thumbnails),
    '</article>',
  ].join('\n');
}

function renderCandidates(candidates: CandidateReport[], path: string, thumbnails: ContactSheetThumbnails): string {
  // Best first, so the runner-up sits next to the winner; unranked ones keep generation order at the end.
  const ordered = [...candidates].sort((first, second) => (first.rank ?? Infinity) - (second.rank ?? Infinity) || first.index - second.index);
  const figures = ordered.map((candidate) => {
    const facts = [
      `candidate ${candidate.index}`,
      candidate.rank === undefined ? undefined : `rank ${candidate.rank}`,
      candidate.score === undefined ? undefined : `score ${formatScore(candidate.score)}`,
      candidate.seed === undefined ? undefined : `seed ${candidate.seed}`,
    ].filter((fact) => fact !== undefined);
    return [
      '<figure class="candidate">',
      renderImage(thumbnails.candidates.get(candidate), `${path}, candidate ${candidate.index}`, 'candidate'),
      `<figcaption>${escape(facts.join(' · '))}${candidate.reason ? `<span class="reason">${escape(candidate.reason)}</span>` : ''}</figcaption>`,
      '</figure>',
    ].join('');
  });
  return `<div class="candidates"><h4>Other candidates (${candidates.length})</h4><div class="strip">${figures.join('\n')}</div></div>`;
}

function renderImage(thumbnail: Thumbnail | undefined, alt: string, size: 'winner' | 'candidate'): string {
  if (thumbnail?.kind === 'image') {
    return `<img src="${escape(thumbnail.src)}" width="${thumbnail.width}" height="${thumbnail.height}" alt="${escape(alt)}" loading="lazy">`;
  }
  const reason = thumbnail?.reason ?? 'no image';
  return `<div class="placeholder ${size}" title="${escape(reason)}"><span>${escape(reason)}</span></div>`;
}

function describeCounts(outputs: OutputReport[]): string {
  const counts = new Map<string, number>();
  for (const output of outputs) counts.set(output.status, (counts.get(output.status) ?? 0) + 1);
  return [...counts].map(([status, count]) => `${count} ${status}`).join(', ');
}

function formatDuration(milliseconds: number): string {
  if (milliseconds < 1000) return `${Math.round(milliseconds)} ms`;
  if (milliseconds < 60_000) return `${(milliseconds / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(milliseconds / 1000);
  return `${Math.floor(totalSeconds / 60)} min ${String(totalSeconds % 60).padStart(2, '0')} s`;
}

/** Escapes text and attribute values alike: prompts are user text and may hold markup. */
function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const styles = `
:root { color-scheme: light dark; --line: #8884; --muted: #888; --failed: #d33; --cached: #38a; --generated: #3a5; --skipped: #999; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; padding: 1rem 1.5rem; max-width: 1400px; }
h1 { margin: 0 0 .5rem; } h2 { margin: 2rem 0 .25rem; } h3 { margin: 0 0 .5rem; font-size: 1rem; word-break: break-all; } h4 { margin: .5rem 0; font-weight: 500; }
.muted { color: var(--muted); font-weight: normal; font-size: .9em; }
.summary { display: flex; flex-wrap: wrap; gap: .5rem 1.5rem; margin: 0; }
.summary dt { color: var(--muted); font-size: .8em; } .summary dd { margin: 0; font-weight: 600; }
.failed-list a { color: var(--failed); }
.output { display: grid; grid-template-columns: 200px 1fr; gap: .5rem 1rem; padding: .75rem; margin: .75rem 0; border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px; }
.status-generated { border-left-color: var(--generated); } .status-cached { border-left-color: var(--cached); }
.status-failed { border-left-color: var(--failed); } .status-skipped { border-left-color: var(--skipped); }
.status { font-size: .8em; font-weight: normal; padding: 0 .4em; border-radius: 3px; border: 1px solid currentColor; }
.status-failed .status { color: var(--failed); } .status-cached .status { color: var(--cached); } .status-generated .status { color: var(--generated); }
figure { margin: 0; }
.winner { width: 192px; }
img { display: block; max-width: 100%; height: auto; border-radius: 3px; }
.details dl { display: grid; grid-template-columns: max-content 1fr; gap: .15rem .75rem; margin: 0; }
.details dt { color: var(--muted); } .details dd { margin: 0; white-space: pre-wrap; word-break: break-word; }
.error { color: var(--failed); white-space: pre-wrap; margin: 0 0 .5rem; }
.candidates { grid-column: 1 / -1; }
.strip { display: flex; flex-wrap: wrap; gap: .75rem; }
.candidate { width: 128px; font-size: .8em; }
.candidate figcaption { margin-top: .25rem; } .reason { display: block; color: var(--muted); }
.placeholder { display: flex; align-items: center; justify-content: center; text-align: center; padding: .5rem; box-sizing: border-box; border: 1px dashed var(--muted); border-radius: 3px; color: var(--muted); word-break: break-word; }
.placeholder.winner { width: 192px; height: 192px; } .placeholder.candidate { width: 128px; height: 128px; }
`;
