/**
 * Streaming dataset readers: JSON Lines, CSV/TSV and Parquet. Each yields one record at a time,
 * so a large split is never held in memory whole (Parquet is read one row group at a time).
 *
 * Every record carries `__line` (1-based: the JSONL line, the CSV line where the record starts,
 * or the Parquet row index + 1) and `__file`, so later errors can say where a bad record is.
 */
import { host } from '../host.ts';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { checkRowGroup } from './parquet_check.ts';
import { DataError } from './errors.ts';

/** One dataset row: its fields plus where it came from. */
export interface DataRecord {
  readonly [field: string]: unknown;
  /** 1-based line (JSONL/CSV) or row (Parquet) of the record in its file. */
  readonly __line: number;
  /** The file the record was read from. */
  readonly __file?: string;
}

export type DataFormat = 'jsonl' | 'csv' | 'tsv' | 'parquet';

export interface ReadOptions {
  /** Overrides the format implied by the extension. */
  format?: DataFormat;
  /** CSV/TSV only: the field delimiter (default ',' for csv, '\t' for tsv). */
  delimiter?: string;
}

/** The format implied by a file name, or undefined if the extension is not one we read. */
export function formatOf(path: string): DataFormat | undefined {
  switch (host().path.extname(path).toLowerCase()) {
    case '.jsonl':
    case '.ndjson':
    case '.json':
      return 'jsonl';
    case '.csv':
      return 'csv';
    case '.tsv':
      return 'tsv';
    case '.parquet':
    case '.pq':
      return 'parquet';
    default:
      return undefined;
  }
}

async function checkFile(path: string): Promise<void> {
  let isFile: boolean;
  try {
    isFile = (await host().fsPromises.stat(path)).isFile();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(code === 'ENOENT' ? 'no such file' : `cannot be read: ${e instanceof Error ? e.message : String(e)}`, { file: path });
  }
  if (!isFile) throw new DataError('is not a file', { file: path });
}

/**
 * Reads the records of a dataset file, dispatching on its extension (.jsonl/.json/.ndjson,
 * .csv, .tsv, .parquet) unless `opts.format` says otherwise. Streams; throws DataError for a
 * missing file, an unknown extension or a malformed record (naming the file and line).
 */
export async function* readRecords(path: string, opts: ReadOptions = {}): AsyncGenerator<DataRecord> {
  const format = opts.format ?? formatOf(path);
  if (format === undefined) {
    throw new DataError(`unknown dataset extension "${host().path.extname(path)}"; expected .jsonl, .json, .csv, .tsv or .parquet (or pass a format)`, { file: path });
  }
  switch (format) {
    case 'jsonl':
      yield* readJsonl(path);
      return;
    case 'csv':
      yield* readDelimited(path, opts.delimiter ?? ',');
      return;
    case 'tsv':
      yield* readDelimited(path, opts.delimiter ?? '\t');
      return;
    case 'parquet':
      yield* readParquet(path);
      return;
  }
}

/** JSON Lines: one JSON object per line; blank lines are skipped (but counted). */
export async function* readJsonl(path: string): AsyncGenerator<DataRecord> {
  await checkFile(path);
  const stream = host().fs.createReadStream(path, { encoding: 'utf8' });
  const lines = host().readline.createInterface({ input: stream, crlfDelay: Infinity });
  let line = 0;
  try {
    for await (let text of lines) {
      line++;
      if (line === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      if (text.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (e) {
        const hint = line === 1 && text.trim() === '[' ? ' (the file looks like one JSON array; JSON Lines has one object per line)' : '';
        throw new DataError(`invalid JSON: ${e instanceof Error ? e.message : String(e)}${hint}`, { file: path, line });
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        const kind = value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`;
        throw new DataError(`expected a JSON object per line, got ${kind}`, { file: path, line });
      }
      yield { ...(value as Record<string, unknown>), __line: line, __file: path };
    }
  } finally {
    lines.close();
    stream.destroy();
  }
}

/**
 * CSV/TSV (RFC 4180): the first row names the fields; fields may be quoted with `"`, and a quoted
 * field may hold the delimiter, newlines and doubled quotes (`""`). Empty lines are skipped.
 * All values are strings. A row with a different number of fields than the header is an error.
 */
export async function* readDelimited(path: string, delimiter: string): AsyncGenerator<DataRecord> {
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new DataError(`invalid delimiter ${JSON.stringify(delimiter)}: must be one character other than a quote or newline`, { file: path });
  }
  await checkFile(path);
  let header: string[] | undefined;
  for await (const row of parseDelimited(host().fs.createReadStream(path, { encoding: 'utf8' }), delimiter, path)) {
    if (header === undefined) {
      header = row.fields;
      const seen = new Set<string>();
      for (const name of header) {
        if (seen.has(name)) throw new DataError(`duplicate column "${name}" in the header`, { file: path, line: row.line, field: name });
        seen.add(name);
      }
      continue;
    }
    if (row.fields.length !== header.length) {
      throw new DataError(`has ${row.fields.length} fields but the header has ${header.length} (${header.join(', ')})`, { file: path, line: row.line });
    }
    const record: Record<string, unknown> = {};
    for (let i = 0; i < header.length; i++) record[header[i]!] = row.fields[i];
    yield { ...record, __line: row.line, __file: path };
  }
}

interface RawRow {
  fields: string[];
  /** Line where the row starts. */
  line: number;
}

/** The CSV state machine over a stream of text chunks. Exported for tests. */
export async function* parseDelimited(chunks: AsyncIterable<string | Buffer> | Iterable<string | Buffer>, delimiter: string, file = '<csv>'): AsyncGenerator<RawRow> {
  let fields: string[] = [];
  let field = '';
  let inQuotes = false;
  let afterQuote = false; // just saw a closing quote (or the first of a doubled one)
  let fieldQuoted = false;
  let line = 1;
  let rowLine = 1;
  let rowHasContent = false;
  let pendingCR = false;
  let first = true;
  let quoteLine = 1;

  const endField = (): void => {
    fields.push(field);
    field = '';
    fieldQuoted = false;
  };

  for await (const raw of chunks) {
    let chunk = typeof raw === 'string' ? raw : raw.toString('utf8');
    if (first) {
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
      first = false;
    }
    const rows: RawRow[] = [];
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (pendingCR) {
        pendingCR = false;
        if (c === '\n') continue; // \r\n already ended the row
      }
      if (inQuotes) {
        if (afterQuote) {
          if (c === '"') {
            field += '"';
            afterQuote = false;
            continue;
          }
          inQuotes = false;
          afterQuote = false;
          // fall through: c is handled as outside quotes
        } else {
          if (c === '"') afterQuote = true;
          else {
            if (c === '\n') line++;
            field += c;
          }
          continue;
        }
      }
      if (c === delimiter) {
        endField();
        rowHasContent = true;
      } else if (c === '\n' || c === '\r') {
        if (rowHasContent || field !== '' || fieldQuoted) {
          endField();
          rows.push({ fields, line: rowLine });
        }
        fields = [];
        field = '';
        fieldQuoted = false;
        rowHasContent = false;
        line++;
        rowLine = line;
        if (c === '\r') pendingCR = true;
      } else if (c === '"') {
        if (field === '' && !fieldQuoted) {
          inQuotes = true;
          fieldQuoted = true;
          quoteLine = line;
          rowHasContent = true;
        } else {
          throw new DataError(`unexpected quote inside an unquoted field (quote the whole field and double inner quotes)`, { file, line });
        }
      } else {
        if (fieldQuoted) throw new DataError(`unexpected character ${JSON.stringify(c)} after a closing quote`, { file, line });
        field += c;
        rowHasContent = true;
      }
    }
    yield* rows;
  }
  if (inQuotes && !afterQuote) throw new DataError('unterminated quoted field (the file ends inside quotes)', { file, line: quoteLine });
  if (rowHasContent || field !== '' || fieldQuoted) {
    endField();
    yield { fields, line: rowLine };
  }
}

function plainValue(v: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  return v;
}

/** Parquet via hyparquet: reads the footer, then one row group at a time. INT64 values become numbers. */
export async function* readParquet(path: string): AsyncGenerator<DataRecord> {
  await checkFile(path);
  let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  let metadata: Awaited<ReturnType<typeof parquetMetadataAsync>>;
  try {
    file = await asyncBufferFromFile(path);
    metadata = await parquetMetadataAsync(file);
  } catch (e) {
    throw new DataError(`not a readable Parquet file: ${e instanceof Error ? e.message : String(e)}`, { file: path });
  }
  let rowStart = 0;
  for (const [g, group] of metadata.row_groups.entries()) {
    const rowEnd = rowStart + Number(group.num_rows);
    if (rowEnd === rowStart) continue;
    let rows: Record<string, unknown>[];
    // hyparquet trusts page bytes (a damaged run header can keep it busy for minutes): check them first.
    await checkRowGroup(file, metadata, g, rowStart, path);
    try {
      rows = (await parquetReadObjects({ file, metadata, rowStart, rowEnd })) as Record<string, unknown>[];
    } catch (e) {
      throw new DataError(`cannot read rows ${rowStart + 1}..${rowEnd}: ${e instanceof Error ? e.message : String(e)}`, { file: path, line: rowStart + 1 });
    }
    for (let i = 0; i < rows.length; i++) {
      const record: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(rows[i]!)) record[k] = plainValue(v);
      yield { ...record, __line: rowStart + i + 1, __file: path };
    }
    rowStart = rowEnd;
  }
}

/** The first `n` items of a stream (stops reading the source after them). */
export async function take<T>(items: AsyncIterable<T> | Iterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n <= 0) return out;
  for await (const item of items) {
    out.push(item);
    if (out.length >= n) break;
  }
  return out;
}

/** All items of a stream, in order. */
export async function collect<T>(items: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Reads every record of a file into memory and fails (DataError naming the file) if there is none. */
export async function readAllRecords(path: string, opts: ReadOptions = {}): Promise<DataRecord[]> {
  return requireNonEmpty(await collect(readRecords(path, opts)), path);
}

/** Throws DataError naming `file` when a split has no records; returns `records` otherwise. */
export function requireNonEmpty<T>(records: T[], file: string): T[] {
  if (records.length === 0) throw new DataError('has no records (empty split)', { file });
  return records;
}

/** Reads a labelled split (its first `maxExamples` records when given); an empty one is a DataError naming the file. */
export async function readSplit(path: string, maxExamples?: number): Promise<DataRecord[]> {
  if (maxExamples === undefined) return readAllRecords(path);
  return requireNonEmpty(await take(readRecords(path), maxExamples), path);
}
