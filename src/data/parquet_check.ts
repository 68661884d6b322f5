/**
 * Checks a Parquet row group's pages before hyparquet decodes them (issue 16). hyparquet trusts
 * the bytes: a corrupt run-length header in a page (definition levels, dictionary indices) asks
 * its RLE decoder to write up to 2^31 values into a growing array, synchronously, which runs for
 * minutes; a corrupt page size makes it allocate gigabytes. Here every page header is parsed, each
 * page's sizes and value counts are held to the column chunk's metadata, and every RLE/bit-packed
 * run is walked (without writing values) and held to its page's value count, so a damaged file
 * ends in a DataError naming the row group, the column and the byte.
 */
import type { AsyncBuffer, ColumnChunk, CompressionCodec, FileMetaData, PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { decompressPage } from 'hyparquet/src/datapage.js';
import { getMaxDefinitionLevel, getMaxRepetitionLevel, getSchemaPath } from 'hyparquet/src/schema.js';
import { DataError } from './errors.ts';

/** Snappy expands at most ~21×; anything claiming more than this is corrupt, not large. */
const MAX_EXPANSION = 32;

class PageFault extends Error {}

const bitWidth = (max: number): number => (max === 0 ? 0 : 32 - Math.clz32(max));

/**
 * Walks the RLE/bit-packed hybrid runs in `view[start, end)` that should hold `count` values of
 * `width` bits (`atMost`: up to `count`), as hyparquet's readRleBitPackedHybrid reads them;
 * throws where they cannot.
 */
function checkRuns(view: DataView, start: number, end: number, width: number, count: number, what: string, atMost = false): void {
  let o = start;
  let seen = 0;
  while (seen < count) {
    if (o >= end) {
      if (atMost) return; // values: nulls have none, so fewer than the page's count is fine
      throw new PageFault(`${what} end after ${seen} of ${count} values`);
    }
    let header = 0;
    for (let shift = 0; ; shift += 7) {
      if (o >= end || shift > 28) throw new PageFault(`${what}: a run header at byte ${o} is cut off or too long`);
      const b = view.getUint8(o++);
      header += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    const n = Math.floor(header / 2);
    if (header % 2 === 1) {
      // Bit-packed: n groups of 8 values; the last group may pad past `count`.
      if (seen + n * 8 > count + 7 || o + n * width > end) throw new PageFault(`${what}: a bit-packed run of ${n * 8} values overruns the page (${count} values)`);
      o += n * width;
      seen += n * 8;
    } else {
      if (seen + n > count) throw new PageFault(`${what}: a run of ${n} values overruns the page (${count - seen} left of ${count})`);
      o += (width + 7) >> 3;
      seen += n;
    }
  }
}

function decompress(bytes: Uint8Array, size: number, codec: CompressionCodec, where: string): Uint8Array {
  try {
    return decompressPage(bytes, size, codec, undefined);
  } catch (e) {
    throw new PageFault(`${where} cannot be decompressed (${codec}: ${e instanceof Error ? e.message : String(e)})`);
  }
}

/** A data page's values from byte `o` on: the RLE runs of dictionary indices or booleans. */
function checkValues(pv: DataView, o: number, encoding: string, type: string | undefined, n: number, where: string): void {
  const end = pv.byteLength;
  if (type === 'BOOLEAN' && encoding === 'RLE') {
    if (o + 4 > end) throw new PageFault(`${where} its values are cut off`);
    checkRuns(pv, o + 4, Math.min(end, o + 4 + pv.getUint32(o, true)), 1, n, `${where} its values`, true);
  } else if (['PLAIN_DICTIONARY', 'RLE_DICTIONARY', 'RLE'].includes(encoding) && type !== 'BOOLEAN') {
    if (o >= end) throw new PageFault(`${where} its dictionary indices are cut off`);
    const w = pv.getUint8(o);
    if (w > 32) throw new PageFault(`${where} its dictionary indices claim ${w} bits each`);
    if (w > 0) checkRuns(pv, o + 1, end, w, n, `${where} its dictionary indices`, true);
  }
}

/** The pages of one column chunk, checked. `bytes` is the chunk. */
function checkChunk(bytes: Uint8Array, chunkStart: number, col: ColumnChunk, metadata: FileMetaData, groupRows: number): void {
  const meta = col.meta_data!;
  const schemaPath = getSchemaPath(metadata.schema, meta.path_in_schema);
  const maxRep = getMaxRepetitionLevel(schemaPath);
  const maxDef = getMaxDefinitionLevel(schemaPath);
  const expected = Number(meta.num_values);
  if (maxRep === 0 && expected !== groupRows) throw new PageFault(`the column chunk holds ${expected} values but the row group ${groupRows} rows`);
  const type = schemaPath[schemaPath.length - 1]!.element.type;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reader = { view, offset: 0 };
  let values = 0;
  while (values < expected) {
    if (reader.offset >= bytes.length) throw new PageFault(`the pages end after ${values} of ${expected} values`);
    const at = chunkStart + reader.offset;
    let h: PageHeader;
    try {
      h = parquetHeader(reader);
    } catch (e) {
      throw new PageFault(`the page header at byte ${at} is unreadable (${e instanceof Error ? e.message : String(e)})`);
    }
    const size = h.compressed_page_size;
    const full = h.uncompressed_page_size;
    if (!Number.isSafeInteger(size) || size < 0 || reader.offset + size > bytes.length) {
      throw new PageFault(`the page at byte ${at} claims ${size ?? 'no'} bytes${size === undefined ? '' : ', past its column chunk'}`);
    }
    const cap = meta.codec === 'UNCOMPRESSED' ? size : meta.codec === 'SNAPPY' ? size * MAX_EXPANSION + 65536 : Infinity;
    if (!Number.isSafeInteger(full) || full < 0 || full > cap) {
      throw new PageFault(`the page at byte ${at} claims ${full} bytes uncompressed from ${size}`);
    }
    const body = bytes.subarray(reader.offset, reader.offset + size);
    reader.offset += size;
    const where = `the page at byte ${at}:`;
    if (h.type === 'DATA_PAGE') {
      const d = h.data_page_header!;
      const n = d?.num_values;
      if (!Number.isSafeInteger(n) || n < 0 || values + n > expected) throw new PageFault(`${where} ${n} values, past the chunk's ${expected}`);
      const page = decompress(body, full, meta.codec, where);
      const pv = new DataView(page.buffer, page.byteOffset, page.byteLength);
      let o = 0;
      for (const [max, what] of [[maxRep, 'repetition levels'], [maxDef, 'definition levels']] as const) {
        if (max === 0) continue;
        if (o + 4 > page.length) throw new PageFault(`${where} its ${what} are cut off`);
        const len = pv.getUint32(o, true);
        o += 4;
        if (o + len > page.length) throw new PageFault(`${where} its ${what} claim ${len} bytes, past the page`);
        checkRuns(pv, o, o + len, bitWidth(max), n, `${where} its ${what}`);
        o += len;
      }
      checkValues(pv, o, d.encoding, type, n, where);
      values += n;
    } else if (h.type === 'DATA_PAGE_V2') {
      const d = h.data_page_header_v2!;
      const n = d?.num_values;
      if (!Number.isSafeInteger(n) || n < 0 || values + n > expected) throw new PageFault(`${where} ${n} values, past the chunk's ${expected}`);
      const rep = d.repetition_levels_byte_length;
      const def = d.definition_levels_byte_length;
      if (rep === undefined || def === undefined) throw new PageFault(`${where} its header (a version 2 data page) lacks the levels' lengths`);
      if (!(rep >= 0 && def >= 0 && rep + def <= size && rep + def <= full)) throw new PageFault(`${where} its levels claim ${rep} + ${def} bytes of ${size}`);
      const bv = new DataView(body.buffer, body.byteOffset, body.byteLength);
      if (maxRep > 0) checkRuns(bv, 0, rep, bitWidth(maxRep), n, `${where} its repetition levels`);
      if (maxDef > 0) checkRuns(bv, rep, rep + def, bitWidth(maxDef), n, `${where} its definition levels`);
      const rest = body.subarray(rep + def);
      const page = d.is_compressed === false ? rest : decompress(rest, full - rep - def, meta.codec, where);
      checkValues(new DataView(page.buffer, page.byteOffset, page.byteLength), 0, d.encoding, type, n, where);
      values += n;
    } else if (h.type === 'DICTIONARY_PAGE') {
      const n = h.dictionary_page_header?.num_values;
      if (!Number.isSafeInteger(n) || n! < 0 || n! > 8 * full + 8) throw new PageFault(`${where} a dictionary of ${n} values in ${full} bytes`);
    }
    // Index pages and unknown types are skipped, as hyparquet skips them.
  }
}

/**
 * Checks every column chunk of row group `g` (rows `rowStart + 1`…) before it is decoded; throws
 * a DataError naming the file, the row group, the column and what is wrong.
 */
export async function checkRowGroup(file: AsyncBuffer, metadata: FileMetaData, g: number, rowStart: number, path: string): Promise<void> {
  const group = metadata.row_groups[g]!;
  const rows = Number(group.num_rows);
  for (const col of group.columns) {
    const meta = col.meta_data;
    const name = meta?.path_in_schema.join('.') ?? '?';
    const fail = (detail: string): never => {
      throw new DataError(`row group ${g + 1} of ${metadata.row_groups.length} (rows ${rowStart + 1}..${rowStart + rows}), column "${name}": ${detail}; the file is damaged (write it again)`, { file: path });
    };
    if (!meta) return fail('no column metadata');
    const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
    const end = start + Number(meta.total_compressed_size);
    if (!Number.isSafeInteger(start) || start < 0 || !(end > start) || end > file.byteLength) fail(`its bytes ${start}..${end} lie outside the file (${file.byteLength} bytes)`);
    try {
      checkChunk(new Uint8Array(await file.slice(start, end)), start, col, metadata, rows);
    } catch (e) {
      if (e instanceof PageFault) fail(e.message);
      // hyparquet's own decoders (snappy, thrift) throw plain errors on bytes they cannot read.
      if (e instanceof Error && !(e instanceof DataError)) fail(e.message);
      throw e;
    }
  }
}
