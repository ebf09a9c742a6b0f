// Data files of a spec (CSV, JSON or YAML): one output per row, columns become template variables; every row keeps its line for errors.
import { extname } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { SpecFileError } from './spec-file-error.js';
import { formatFieldPath, lineAt, parseSource, readNamedFile, type SourceLocation } from './spec-files.js';
import { showValue } from './schema-issues.js';

/** One row: its 1-based first line and its cells as strings (an empty or null cell is ``). */
export interface DataRow {
  line: number;
  values: Record<string, string>;
}

/** A loaded data file. */
export interface DataTable {
  /** Relative to the project folder. */
  file: string;
  /** Column names in the order first seen (a CSV's header). */
  columns: string[];
  rows: DataRow[];
}

/** Reads a data file named by a spec's `data` field (`namedAt` points there). */
export async function loadDataFile(absolutePath: string, file: string, namedAt: SourceLocation & { value: string }): Promise<DataTable> {
  const extension = extname(absolutePath).toLowerCase();
  if (!['.csv', '.json', '.yaml', '.yml'].includes(extension)) {
    throw new SpecFileError({ ...namedAt, problem: `${JSON.stringify(namedAt.value)} is not a CSV, JSON or YAML file`, fix: 'name a file ending in .csv, .json, .yaml or .yml' });
  }
  const text = await readNamedFile(absolutePath, namedAt);
  const table = extension === '.csv' ? readCsv(text, file) : readRowList(text, file, absolutePath);
  if (table.rows.length === 0) throw new SpecFileError({ file, line: 1, problem: 'has no rows', fix: 'add rows, or remove it from the spec\'s data' });
  return table;
}

function readCsv(text: string, file: string): DataTable {
  // csv-parse counts a CRLF as two lines; with LF only, its line numbers match an editor's.
  const normalised = text.replace(/\r\n?/g, '\n');
  let columns: string[] = [];
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parseCsv(normalised, {
      bom: true,
      info: true,
      skip_empty_lines: true,
      columns: (header: string[]) => {
        columns = checkHeader(header, file);
        return columns;
      },
    }) as typeof records;
  } catch (error) {
    if (SpecFileError.isInstance(error)) throw error;
    const line = (error as { lines?: number }).lines;
    throw new SpecFileError({ file, line, problem: `is not valid CSV: ${(error as Error).message}`, fix: 'give every row as many cells as the header, and quote cells that hold commas, quotes or line breaks', cause: error });
  }
  const rows = records.map(({ record, info }) => {
    // `info.lines` is where the record ends; a quoted cell may span lines.
    const spanned = Object.values(record).reduce((count, cell) => count + (cell.match(/\n/g)?.length ?? 0), 0);
    return { line: info.lines - spanned, values: record };
  });
  return { file, columns, rows };
}

function checkHeader(header: string[], file: string): string[] {
  header.forEach((column, index) => {
    if (column === '') throw new SpecFileError({ file, line: 1, field: `column ${index + 1}`, problem: 'has an empty name', fix: 'name every column in the header row' });
    if (header.indexOf(column) !== index) throw new SpecFileError({ file, line: 1, field: column, value: column, problem: 'is a column name used twice', fix: 'give each column its own name' });
  });
  return header;
}

function readRowList(text: string, file: string, absolutePath: string): DataTable {
  const document = parseSource(text, file, absolutePath);
  if (!Array.isArray(document.value)) {
    throw new SpecFileError({ file, line: lineAt(document, []) ?? 1, problem: `holds ${showValue(document.value)}, not a list of rows`, fix: 'write a list of maps, one per output: [{ city: Berlin }, { city: Paris }]' });
  }
  const columns: string[] = [];
  const rows = document.value.map((row: unknown, index): DataRow => {
    const line = lineAt(document, [index]) ?? 1;
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new SpecFileError({ file, line, field: formatFieldPath([index]), value: row, problem: `${showValue(row)} is not a row`, fix: 'write each row as a map of column: value' });
    }
    const values: Record<string, string> = {};
    for (const [column, cell] of Object.entries(row)) {
      if (cell !== null && typeof cell === 'object') {
        throw new SpecFileError({ file, line: lineAt(document, [index, column]), field: formatFieldPath([index, column]), value: cell, problem: `${showValue(cell)} is not a cell value`, fix: 'use a string, a number or true/false' });
      }
      values[column] = cell === null || cell === undefined ? '' : String(cell);
      if (!columns.includes(column)) columns.push(column);
    }
    return { line, values };
  });
  return { file, columns, rows };
}
