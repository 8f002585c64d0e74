/**
 * The loan-book CSV: one column per application field (names exactly as in application.ts) plus `defaulted` (0/1).
 * `applicationRef` is optional; any other extra column is ignored. Reading validates the header and every row
 * against the application rules and names the line and column of each problem.
 */
import { HOME_OWNERSHIPS, LOAN_PURPOSES, NUMERIC_FIELDS, type LoanApplication } from '../src/model/application.js';
import { validateApplication } from './application-schema.js';

/** The columns of a loan book, in the order the generator writes them. */
export const LOAN_BOOK_COLUMNS = [
  'annualIncome',
  'monthlyDebt',
  'loanAmount',
  'loanTermMonths',
  'loanPurpose',
  'creditScore',
  'employmentYears',
  'homeOwnership',
  'openCreditLines',
  'delinquencies2y',
  'revolvingUtilization',
  'defaulted',
] as const;

export const OPTIONAL_COLUMNS = ['applicationRef'] as const;

export interface LabelledApplication {
  application: LoanApplication;
  defaulted: 0 | 1;
}

export interface LoanBookRow extends LabelledApplication {
  /** 1-based line of the file the record starts on (the header is line 1) */
  line: number;
}

export interface LoanBook {
  rows: LoanBookRow[];
  /** columns present in the file that training does not use */
  ignoredColumns: string[];
}

export interface CsvProblem {
  line: number;
  /** the column's header name; absent for problems with the record as a whole */
  column?: string;
  message: string;
}

export class LoanBookCsvError extends Error {
  constructor(
    readonly source: string,
    readonly problems: CsvProblem[],
    readonly truncated: boolean,
  ) {
    const lines = problems.map(
      (p) => `  ${source}: line ${p.line}${p.column !== undefined ? `, column "${p.column}"` : ''}: ${p.message}`,
    );
    super(
      `invalid loan book ${source} (${problems.length}${truncated ? '+' : ''} problem${problems.length === 1 ? '' : 's'}):\n` +
        lines.join('\n') +
        (truncated ? '\n  … (further problems not listed)' : ''),
    );
    this.name = 'LoanBookCsvError';
  }
}

function quoteField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Writes labelled applications as a loan-book CSV (LF line ends, trailing newline). */
export function formatLoanBookCsv(rows: readonly LabelledApplication[]): string {
  const out: string[] = [LOAN_BOOK_COLUMNS.join(',')];
  for (const { application, defaulted } of rows) {
    const record = LOAN_BOOK_COLUMNS.map((column) =>
      column === 'defaulted' ? String(defaulted) : quoteField(String(application[column])),
    );
    out.push(record.join(','));
  }
  return out.join('\n') + '\n';
}

export interface CsvRecord {
  line: number;
  fields: string[];
}

/** RFC 4180 records (quoted fields, doubled quotes, CRLF or LF). Blank lines are skipped. */
export function parseCsvRecords(text: string, source = 'CSV'): CsvRecord[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  while (i < text.length) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let endOfRecord = false;
    while (!endOfRecord) {
      if (text[i] === '"') {
        i++;
        for (;;) {
          if (i >= text.length) {
            throw new LoanBookCsvError(source, [{ line: startLine, message: 'unterminated quoted field' }], false);
          }
          const c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          throw new LoanBookCsvError(source, [{ line, message: 'unexpected character after a closing quote' }], false);
        }
      } else {
        while (i < text.length && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') field += text[i++];
      }
      fields.push(field);
      field = '';
      if (i >= text.length) endOfRecord = true;
      else if (text[i] === ',') i++;
      else {
        if (text[i] === '\r') i++;
        if (text[i] === '\n') i++;
        line++;
        endOfRecord = true;
      }
    }
    if (!(fields.length === 1 && fields[0].trim() === '')) records.push({ line: startLine, fields });
  }
  return records;
}

const NUMBER_PATTERN = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const NUMERIC_COLUMNS: ReadonlySet<string> = new Set(NUMERIC_FIELDS);

/**
 * Parses and validates a loan-book CSV.
 * @param source how to name the file in errors (e.g. its path relative to the working directory)
 * @param maxProblems stop collecting after this many problems
 */
export function parseLoanBookCsv(text: string, source = 'loan book', maxProblems = 20): LoanBook {
  const records = parseCsvRecords(text, source);
  if (records.length === 0) throw new LoanBookCsvError(source, [{ line: 1, message: 'the file is empty (no header)' }], false);

  const header = records[0].fields.map((h) => h.trim());
  const headerProblems: CsvProblem[] = [];
  const index = new Map<string, number>();
  header.forEach((name, j) => {
    if (name === '') headerProblems.push({ line: records[0].line, message: `column ${j + 1} has an empty name` });
    else if (index.has(name)) headerProblems.push({ line: records[0].line, column: name, message: 'duplicate column' });
    else index.set(name, j);
  });
  const missing = LOAN_BOOK_COLUMNS.filter((c) => !index.has(c));
  if (missing.length > 0) {
    headerProblems.push({
      line: records[0].line,
      message: `missing column(s) ${missing.map((c) => `"${c}"`).join(', ')}; a loan book needs ${LOAN_BOOK_COLUMNS.join(', ')}`,
    });
  }
  if (headerProblems.length > 0) throw new LoanBookCsvError(source, headerProblems, false);
  const known: ReadonlySet<string> = new Set<string>([...LOAN_BOOK_COLUMNS, ...OPTIONAL_COLUMNS]);
  const ignoredColumns = header.filter((h) => !known.has(h));
  const refIndex = index.get('applicationRef');

  const rows: LoanBookRow[] = [];
  const problems: CsvProblem[] = [];
  let truncated = false;
  const report = (p: CsvProblem) => {
    if (problems.length < maxProblems) problems.push(p);
    else truncated = true;
  };

  for (let r = 1; r < records.length && !truncated; r++) {
    const { line, fields } = records[r];
    if (fields.length !== header.length) {
      report({ line, message: `expected ${header.length} fields (as in the header), found ${fields.length}` });
      continue;
    }
    const candidate: Record<string, unknown> = {};
    const rowProblems: CsvProblem[] = [];
    for (const column of LOAN_BOOK_COLUMNS) {
      if (column === 'defaulted') continue;
      const raw = fields[index.get(column)!].trim();
      if (raw === '') rowProblems.push({ line, column, message: 'value is missing' });
      else if (!NUMERIC_COLUMNS.has(column)) candidate[column] = raw;
      else if (NUMBER_PATTERN.test(raw)) candidate[column] = Number(raw);
      else rowProblems.push({ line, column, message: `"${raw}" is not a number` });
    }
    if (refIndex !== undefined) candidate.applicationRef = fields[refIndex] === '' ? null : fields[refIndex];

    const rawDefaulted = fields[index.get('defaulted')!].trim();
    if (rawDefaulted !== '0' && rawDefaulted !== '1') {
      rowProblems.push({ line, column: 'defaulted', message: `must be 0 or 1, got "${rawDefaulted}"` });
    }

    const result = validateApplication(candidate);
    if (!result.ok) {
      const alreadyReported = new Set(rowProblems.map((p) => p.column));
      for (const e of result.errors) {
        if (alreadyReported.has(e.field)) continue;
        let message = e.message;
        if (e.field === 'loanPurpose') message = `"${String(candidate.loanPurpose)}" is not one of ${LOAN_PURPOSES.join(', ')}`;
        if (e.field === 'homeOwnership') {
          message = `"${String(candidate.homeOwnership)}" is not one of ${HOME_OWNERSHIPS.join(', ')}`;
        }
        rowProblems.push({ line, column: e.field, message });
      }
    }
    if (rowProblems.length > 0 || !result.ok) {
      // in the order of the file's columns
      const position = (p: CsvProblem) => (p.column !== undefined ? (index.get(p.column) ?? header.length) : -1);
      rowProblems.sort((a, b) => position(a) - position(b)).forEach(report);
      continue;
    }
    rows.push({ application: result.application, defaulted: rawDefaulted === '1' ? 1 : 0, line });
  }
  if (problems.length > 0) throw new LoanBookCsvError(source, problems, truncated);
  if (rows.length === 0) throw new LoanBookCsvError(source, [{ line: records[0].line, message: 'the file has no data rows' }], false);
  return { rows, ignoredColumns };
}
