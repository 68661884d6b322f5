/**
 * Errors of the data layer: a dataset, template or verbalizer the user supplied is wrong.
 * The message names the file, the line (1-based) and the field where they are known,
 * so the user can open the file at that line and fix it.
 */
import { SoftpromptError } from '../errors.ts';

export interface DataErrorWhere {
  /** The file the record, template or verbalizer came from. */
  readonly file?: string | undefined;
  /** 1-based line (JSONL, CSV: the line where the record starts) or row (Parquet: row index + 1). */
  readonly line?: number | undefined;
  /** The record field (or template slot / verbalizer label) concerned. */
  readonly field?: string | undefined;
}

function prefix(where: DataErrorWhere): string {
  if (where.file === undefined) return where.line === undefined ? '' : `line ${where.line}: `;
  return where.line === undefined ? `${where.file}: ` : `${where.file}:${where.line}: `;
}

export class DataError extends SoftpromptError {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly field: string | undefined;
  /** The message without the "file:line: " prefix. */
  readonly detail: string;

  constructor(detail: string, where: DataErrorWhere = {}) {
    super(`${prefix(where)}${detail}`);
    this.file = where.file;
    this.line = where.line;
    this.field = where.field;
    this.detail = detail;
  }
}
