// Tests of data files: CSV quoting, line numbers (CRLF, multi-line cells, blank lines, BOM), JSON and YAML rows, and bad files.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadDataFile } from './data-files.js';
import { temporaryFolder } from '../../testing/temporary-files.js';


const namedAt = { file: 'specs/a.yaml', line: 4, field: 'data', value: 'rows' };

async function load(name: string, text: string) {
  const folder = await temporaryFolder('pixelpipe-data-');
  await writeFile(join(folder, name), text);
  return loadDataFile(join(folder, name), `data/${name}`, { ...namedAt, value: name });
}

test('CSV rows keep quoted commas and quotes, and the line each row starts on', async () => {
  const table = await load('rows.csv', '\uFEFFcity,note\r\n"Berlin","warm, ""bright"""\r\n\r\nParis,"two\r\nlines"\r\nRome,\r\n');
  assert.deepEqual(table, {
    file: 'data/rows.csv',
    columns: ['city', 'note'],
    rows: [
      { line: 2, values: { city: 'Berlin', note: 'warm, "bright"' } },
      { line: 4, values: { city: 'Paris', note: 'two\nlines' } },
      { line: 6, values: { city: 'Rome', note: '' } },
    ],
  });
});

test('JSON and YAML rows become strings, null becomes empty, columns are the union in order', async () => {
  assert.deepEqual(await load('rows.json', '[\n  { "id": 1, "ok": true },\n  { "id": 2.5, "note": null }\n]'), {
    file: 'data/rows.json',
    columns: ['id', 'ok', 'note'],
    rows: [
      { line: 2, values: { id: '1', ok: 'true' } },
      { line: 3, values: { id: '2.5', note: '' } },
    ],
  });
  assert.deepEqual((await load('rows.yaml', '# regions\n- region: north\n  city: Hamburg\n- region: south\n')).rows, [
    { line: 2, values: { region: 'north', city: 'Hamburg' } },
    { line: 4, values: { region: 'south' } },
  ]);
});

test('bad data files name the file, the line and the fix', async () => {
  await assert.rejects(load('rows.csv', 'a,b\n1,2\n3\n'), { message: 'data/rows.csv:3: is not valid CSV: Invalid Record Length: columns length is 2, got 1 on line 3; give every row as many cells as the header, and quote cells that hold commas, quotes or line breaks' });
  await assert.rejects(load('rows.csv', 'a,a\n1,2\n'), { message: 'data/rows.csv:1: a: is a column name used twice; give each column its own name' });
  await assert.rejects(load('rows.csv', 'a,b\n'), { message: "data/rows.csv:1: has no rows; add rows, or remove it from the spec's data" });
  await assert.rejects(load('rows.yaml', 'region: north\n'), { message: 'data/rows.yaml:1: holds a map, not a list of rows; write a list of maps, one per output: [{ city: Berlin }, { city: Paris }]' });
  await assert.rejects(load('rows.yaml', '- region: north\n  cities: [a, b]\n'), { message: 'data/rows.yaml:2: [0].cities: a list is not a cell value; use a string, a number or true/false' });
  await assert.rejects(load('rows.txt', 'x'), { message: 'specs/a.yaml:4: data: "rows.txt" is not a CSV, JSON or YAML file; name a file ending in .csv, .json, .yaml or .yml' });
});
