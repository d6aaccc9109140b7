/**
 * RFC 4180 CSV for audit exports. A null field is written empty and unquoted; an empty string is written as ""
 * so the round trip keeps the difference (the chain hash depends on it).
 */
export function csvField(v: string | number | null): string {
  if (v === null) return '';
  if (typeof v === 'number') return String(v);
  return `"${v.replaceAll('"', '""')}"`;
}

export function csvLine(values: ReadonlyArray<string | number | null>): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

export class CsvError extends Error {
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(message);
  }
}

/** A parsed field: `quoted` tells "" (empty string) from nothing (null). */
export interface CsvCell {
  text: string;
  quoted: boolean;
}

/** Parses RFC 4180 text into rows of cells; each row also reports the 1-based line it started on. */
export function parseCsv(text: string): Array<{ line: number; cells: CsvCell[] }> {
  const rows: Array<{ line: number; cells: CsvCell[] }> = [];
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const startLine = line;
    const cells: CsvCell[] = [];
    for (;;) {
      let cell: CsvCell;
      if (text[i] === '"') {
        i++;
        // Whole runs up to the next quote at a time: building the field a character at a time makes one string
        // object per character, which exhausts the heap on exports of a few hundred MB.
        const runs: string[] = [];
        for (;;) {
          const q = text.indexOf('"', i);
          if (q < 0) throw new CsvError(startLine, `line ${startLine}: unterminated quoted field`);
          const run = text.slice(i, q);
          for (let k = run.indexOf('\n'); k >= 0; k = run.indexOf('\n', k + 1)) line++;
          runs.push(run);
          if (text[q + 1] === '"') {
            runs.push('"');
            i = q + 2;
            continue;
          }
          i = q + 1;
          break;
        }
        cell = { text: runs.length === 1 ? runs[0]! : runs.join(''), quoted: true };
      } else {
        let j = i;
        while (j < n && text[j] !== ',' && text[j] !== '\r' && text[j] !== '\n') j++;
        const raw = text.slice(i, j);
        if (raw.includes('"')) throw new CsvError(startLine, `line ${startLine}: stray quote in unquoted field`);
        cell = { text: raw, quoted: false };
        i = j;
      }
      cells.push(cell);
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] === '\r' && text[i + 1] === '\n') i += 2;
      else if (text[i] === '\n') i += 1;
      else if (i < n) throw new CsvError(startLine, `line ${startLine}: unexpected character after a field`);
      line++;
      break;
    }
    rows.push({ line: startLine, cells });
  }
  return rows;
}
