/** hyparquet in the browser: its browser build, plus the file reader the Node path names (Parquet comes as bytes here). */
export * from 'hyparquet';
export function asyncBufferFromFile(path: string): never {
  throw new Error(`${path}: reading Parquet from a file is not available in the browser build; load the split as JSONL or CSV`);
}
