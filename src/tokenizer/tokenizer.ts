/**
 * A thin wrapper over @huggingface/tokenizers (pure JS) for a Hugging Face model folder.
 *
 * What it adds on top of the library:
 * - loading from a folder with typed errors (missing/corrupt files name the full path);
 * - special-token ids (bos/eos/pad/unk) resolved from tokenizer_config.json and
 *   special_tokens_map.json, where a token may be a string or an AddedToken object;
 * - `add_bos_token` / `add_eos_token` from tokenizer_config.json honoured even when the
 *   tokenizer.json post-processor disagrees (as transformers' Llama-style tokenizers do);
 * - `encodeContinuation` for verbalizers: the continuation's ids as they appear when the
 *   prompt and continuation are tokenized together.
 */
import { Tokenizer as HfTokenizerClass } from '@huggingface/tokenizers';
import { FormatError, SoftpromptError } from '../errors.ts';
import {
  readTokenizerFiles,
  readTokenizerFilesSync,
  resolveTokenizerConfig,
  type JsonObject,
  type SpecialTokenField,
  type TokenizerFiles,
} from './files.ts';

export interface EncodeOptions {
  /**
   * Add the special tokens the tokenizer adds by default (BOS for Llama-style tokenizers,
   * nothing for GPT-2). Default true.
   */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (bos/eos/pad/unk and added special tokens) before decoding. Default false. */
  skipSpecialTokens?: boolean;
}

/** The result of {@link Tokenizer.encodeContinuation}. `promptIds ++ continuationIds` is the joint encoding. */
export interface ContinuationEncoding {
  promptIds: number[];
  continuationIds: number[];
  /**
   * True when the tokenizer merged characters across the prompt/continuation boundary, so the
   * prompt's own encoding is not a prefix of the joint one. The split is then at the longest
   * common prefix: the last prompt tokens that changed are counted as part of the continuation.
   */
  boundaryMerged: boolean;
}

/**
 * The part of @huggingface/tokenizers' Tokenizer we use. Declared here because the package's
 * .d.ts files use extension-less relative imports, which NodeNext resolution cannot follow, so
 * the imported class would otherwise be typed `any`.
 */
interface HfTokenizer {
  encode(text: string, options?: { add_special_tokens?: boolean }): { ids: number[]; tokens: string[] };
  decode(ids: number[], options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean }): string;
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
  get_added_tokens_decoder(): Map<number, { content: string; special: boolean }>;
  get_vocab(withAddedTokens?: boolean): Map<string, number>;
}
const HfTokenizerCtor = HfTokenizerClass as unknown as new (tokenizerJson: object, config: object) => HfTokenizer;

/** Text used to find out what the tokenizer.json post-processor adds around a sequence. */
const PROBE_TEXT = 'a';

function startsWith(ids: readonly number[], prefix: readonly number[]): boolean {
  if (prefix.length > ids.length) return false;
  for (let i = 0; i < prefix.length; i++) if (ids[i] !== prefix[i]) return false;
  return true;
}

function commonPrefixLength(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Prompts longer than this (characters) are re-tokenized from a window per continuation (encodeContinuations). */
export const WINDOW_MIN_PROMPT = 1024;
/** The window's length in characters. */
const WINDOW_CHARS = 128;
/** At most this many of the window's first ids may differ from the whole prompt's. */
const WINDOW_LEAD_MAX = 8;

/** Index where `needle` occurs as a contiguous run in `hay`, or -1. */
function indexOfRun(hay: readonly number[], needle: readonly number[]): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export class Tokenizer {
  /** Number of ids: the largest id in the vocabulary (added tokens included) plus one. */
  readonly vocabSize: number;
  readonly bosToken: string | undefined;
  readonly eosToken: string | undefined;
  readonly padToken: string | undefined;
  readonly unkToken: string | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly unkTokenId: number | undefined;
  /**
   * Whether `encode` (with special tokens) starts with BOS: tokenizer_config's `add_bos_token`
   * when it is set, otherwise whatever the tokenizer.json post-processor does.
   */
  readonly addBosToken: boolean;
  /** Like {@link addBosToken}, for EOS at the end. */
  readonly addEosToken: boolean;
  /** The folder (or file) this tokenizer was loaded from, for messages. */
  readonly source: string;

  readonly #hf: HfTokenizer;
  readonly #specialIds: ReadonlySet<number>;
  readonly #postProcessorAddsBos: boolean;
  readonly #postProcessorAddsEos: boolean;

  private constructor(files: TokenizerFiles) {
    this.source = files.dir;
    const resolved = resolveTokenizerConfig(files);
    const json: JsonObject = { ...files.tokenizerJson };
    // The library requires these keys to exist; older tokenizer.json files may omit the null ones.
    for (const key of ['normalizer', 'pre_tokenizer', 'post_processor', 'decoder'] as const) {
      if (!(key in json)) json[key] = null;
    }
    if (json.added_tokens === undefined) json.added_tokens = [];
    try {
      this.#hf = new HfTokenizerCtor(json, resolved.libConfig);
    } catch (e) {
      throw new FormatError(files.tokenizerPath, `cannot be loaded by @huggingface/tokenizers: ${e instanceof Error ? e.message : String(e)}`);
    }
    const hf = this.#hf;

    let maxId = -1;
    for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
    this.vocabSize = maxId + 1;

    const idOf = (field: SpecialTokenField): number | undefined => {
      const tok = resolved.tokens[field];
      return tok === undefined ? undefined : hf.token_to_id(tok);
    };
    this.bosToken = resolved.tokens.bos_token;
    this.eosToken = resolved.tokens.eos_token;
    this.padToken = resolved.tokens.pad_token;
    this.unkToken = resolved.tokens.unk_token;
    this.bosTokenId = idOf('bos_token');
    this.eosTokenId = idOf('eos_token');
    this.padTokenId = idOf('pad_token');
    this.unkTokenId = idOf('unk_token');

    const special = new Set<number>();
    for (const [id, tok] of hf.get_added_tokens_decoder()) if (tok.special) special.add(id);
    for (const tok of [...Object.values(resolved.tokens), ...resolved.additionalSpecialTokens]) {
      const id = hf.token_to_id(tok);
      if (id !== undefined) special.add(id);
    }
    this.#specialIds = special;

    // What does the post-processor add? Compare an encoding with and without special tokens.
    const withSpecial = hf.encode(PROBE_TEXT, { add_special_tokens: true }).ids;
    const plain = hf.encode(PROBE_TEXT, { add_special_tokens: false }).ids;
    const bos = this.bosTokenId;
    const eos = this.eosTokenId;
    this.#postProcessorAddsBos = bos !== undefined && withSpecial[0] === bos && plain[0] !== bos;
    this.#postProcessorAddsEos = eos !== undefined && withSpecial[withSpecial.length - 1] === eos && plain[plain.length - 1] !== eos;
    this.addBosToken = bos !== undefined && (resolved.addBosToken ?? this.#postProcessorAddsBos);
    this.addEosToken = eos !== undefined && (resolved.addEosToken ?? this.#postProcessorAddsEos);
  }

  /** Builds a tokenizer from already-read files (see files.ts). */
  static fromFiles(files: TokenizerFiles): Tokenizer {
    return new Tokenizer(files);
  }

  /** Encodes one text to ids. By default adds BOS/EOS as {@link addBosToken}/{@link addEosToken} say. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecialTokens ?? true;
    let ids = this.#hf.encode(text, { add_special_tokens: addSpecial }).ids;
    if (!addSpecial) return ids;
    const bos = this.bosTokenId;
    const eos = this.eosTokenId;
    if (bos !== undefined) {
      if (this.addBosToken && !this.#postProcessorAddsBos) ids = [bos, ...ids];
      else if (!this.addBosToken && this.#postProcessorAddsBos && ids[0] === bos) ids = ids.slice(1);
    }
    if (eos !== undefined) {
      if (this.addEosToken && !this.#postProcessorAddsEos) ids = [...ids, eos];
      else if (!this.addEosToken && this.#postProcessorAddsEos && ids[ids.length - 1] === eos) ids = ids.slice(0, -1);
    }
    return ids;
  }

  /** Encodes each text; the same as calling {@link encode} per item (no padding). */
  encodeBatch(texts: readonly string[], opts: EncodeOptions = {}): number[][] {
    return texts.map((t) => this.encode(t, opts));
  }

  /**
   * Tokenizes `prompt + continuation` together and splits the ids where the prompt's tokens end,
   * so the continuation's ids are those the model would see after the prompt (e.g. GPT-2's
   * " girl" -> [2576] with its leading space merged in, or a sentencepiece continuation without
   * a spurious "▁" prefix). Use it for verbalizers and for scoring targets.
   *
   * The split is computed on the encodings without special tokens: if the prompt's ids are a
   * prefix of the joint ids the split is there. Otherwise the tokenizer merged characters across
   * the boundary; @huggingface/tokenizers gives no character offsets, so the split is at the
   * longest common prefix, and the merged tokens belong to the continuation
   * (`boundaryMerged` is then true). Then the leading special tokens that `encode(prompt, opts)`
   * adds (BOS) are put in front of `promptIds`; trailing ones (EOS) are not added anywhere.
   *
   * Throws if `continuation` is non-empty but contributes no tokens (a verbalizer with no ids
   * would silently score 0).
   */
  encodeContinuation(prompt: string, continuation: string, opts: EncodeOptions = {}): ContinuationEncoding {
    return this.#continuations(prompt, [continuation], opts, false)[0]!;
  }

  /**
   * {@link encodeContinuation} of one prompt with each of `continuations`, the same ids, with the
   * prompt encoded once instead of twice per continuation.
   *
   * A long prompt (over {@link WINDOW_MIN_PROMPT} characters) is not re-tokenized whole for each
   * continuation either: prompt + continuation is tokenized from a window of the prompt's last
   * {@link WINDOW_CHARS} characters on, and the prompt's own ids before the window are kept. This
   * is used only where it is checked to agree with whole encodings: the window's ids after its
   * first few must be the tail of the whole prompt's ids (merges reach no further back), and
   * those first few must not change when the continuation follows. Otherwise (and for short
   * prompts) each continuation is tokenized with the whole prompt.
   */
  encodeContinuations(prompt: string, continuations: readonly string[], opts: EncodeOptions = {}): ContinuationEncoding[] {
    return this.#continuations(prompt, continuations, opts, true);
  }

  #continuations(prompt: string, continuations: readonly string[], opts: EncodeOptions, windowed: boolean): ContinuationEncoding[] {
    const promptPlain = this.encode(prompt, { addSpecialTokens: false });
    let leading: number[] = [];
    if (opts.addSpecialTokens ?? true) {
      const promptSpecial = this.encode(prompt, opts);
      const at = indexOfRun(promptSpecial, promptPlain);
      leading = at > 0 ? promptSpecial.slice(0, at) : [];
    }
    const window = windowed && prompt.length > WINDOW_MIN_PROMPT ? this.#window(prompt, promptPlain) : null;
    return continuations.map((continuation) => {
      let joint: number[] | null = null;
      if (window) {
        const ids = this.encode(window.text + continuation, { addSpecialTokens: false });
        if (startsWith(ids, window.lead)) joint = [...window.head, ...ids.slice(window.lead.length)];
      }
      joint ??= this.encode(prompt + continuation, { addSpecialTokens: false });
      return this.#split(prompt, continuation, promptPlain, joint, leading);
    });
  }

  /**
   * The last WINDOW_CHARS characters of `prompt` and how their ids join the whole prompt's: `lead`
   * (the window's first ids, which may differ from the whole encoding's, e.g. a sentencepiece "▁"
   * prepended) and `head` (the whole prompt's ids before the rest of the window). Null when the
   * window's remaining ids are not the tail of `promptPlain`.
   */
  #window(prompt: string, promptPlain: readonly number[]): { text: string; head: number[]; lead: number[] } | null {
    let start = prompt.length - WINDOW_CHARS;
    const c = prompt.charCodeAt(start);
    if (c >= 0xdc00 && c <= 0xdfff) start--; // never split a surrogate pair
    const text = prompt.slice(start);
    const ids = this.encode(text, { addSpecialTokens: false });
    for (let d = 1; d <= WINDOW_LEAD_MAX && ids.length - d >= WINDOW_LEAD_MAX; d++) {
      const rest = ids.slice(d);
      const cut = promptPlain.length - rest.length;
      if (cut > 0 && startsWith(promptPlain.slice(cut), rest)) return { text, head: promptPlain.slice(0, cut), lead: ids.slice(0, d) };
    }
    return null;
  }

  #split(prompt: string, continuation: string, promptPlain: readonly number[], joint: readonly number[], leading: readonly number[]): ContinuationEncoding {
    let split: number;
    let boundaryMerged: boolean;
    if (startsWith(joint, promptPlain)) {
      split = promptPlain.length;
      boundaryMerged = false;
    } else {
      split = commonPrefixLength(joint, promptPlain);
      boundaryMerged = true;
    }
    const continuationIds = joint.slice(split);
    if (continuation.length > 0 && continuationIds.length === 0) {
      throw new SoftpromptError(
        `${this.source}: the continuation ${JSON.stringify(continuation)} after the prompt ${JSON.stringify(prompt.slice(-40))} ` +
          'encodes to no tokens; choose a continuation (verbalizer) the tokenizer does not drop',
      );
    }
    return { promptIds: [...leading, ...joint.slice(0, split)], continuationIds, boundaryMerged };
  }

  /** Decodes ids to text. Accepts arrays and typed arrays. Throws on ids outside the vocabulary. */
  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    let list = Array.from(ids);
    for (const id of list) this.#checkId(id);
    if (opts.skipSpecialTokens) list = list.filter((id) => !this.#specialIds.has(id));
    if (list.length === 0) return '';
    return this.#hf.decode(list, { skip_special_tokens: opts.skipSpecialTokens ?? false });
  }

  /** Decodes each row; the same as calling {@link decode} per row. */
  decodeBatch(batch: readonly ArrayLike<number>[], opts: DecodeOptions = {}): string[] {
    return batch.map((ids) => this.decode(ids, opts));
  }

  /** The vocabulary piece for an id (e.g. "Ġgirl", "▁girl", "<0x0A>"), or undefined if there is none. */
  idToToken(id: number): string | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) return undefined;
    return this.#hf.id_to_token(id);
  }

  /** The id of a vocabulary piece (exact match, no normalisation), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.#hf.token_to_id(token);
  }

  /** Whether an id is a special token (added special tokens, bos/eos/pad/unk, additional_special_tokens). */
  isSpecial(id: number): boolean {
    return this.#specialIds.has(id);
  }

  /** All special ids, ascending. */
  get specialIds(): number[] {
    return [...this.#specialIds].sort((a, b) => a - b);
  }

  /**
   * A human-readable piece for display: the decode of the single id (" girl" for GPT-2's "Ġgirl";
   * note sentencepiece decoders strip a leading space, so stories260K's "▁girl" shows as "girl").
   * When that decode is empty or contains U+FFFD (a lone byte of a multi-byte character), the raw
   * vocabulary piece is returned instead (e.g. "<0xE2>", "▁").
   */
  tokenText(id: number): string {
    this.#checkId(id);
    const text = this.#hf.decode([id], { skip_special_tokens: false });
    if (text === '' || text.includes('\uFFFD')) return this.#hf.id_to_token(id) ?? text;
    return text;
  }

  #checkId(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize || this.#hf.id_to_token(id) === undefined) {
      throw new SoftpromptError(`${this.source}: token id ${id} is not in the vocabulary (ids run 0..${this.vocabSize - 1})`);
    }
  }
}

/**
 * Loads the tokenizer of a Hugging Face model folder: tokenizer.json (required),
 * tokenizer_config.json and special_tokens_map.json (optional).
 * Throws FormatError (missing/corrupt file, naming its path) or ConfigError (bad field).
 */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  return Tokenizer.fromFiles(await readTokenizerFiles(dir));
}

/** Synchronous twin of {@link loadTokenizer}. */
export function loadTokenizerSync(dir: string): Tokenizer {
  return Tokenizer.fromFiles(readTokenizerFilesSync(dir));
}
