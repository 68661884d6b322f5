/**
 * Incremental detokenisation with stop strings. The new tokens are decoded after a few prompt
 * tokens of context (so sentencepiece keeps a leading space and byte-level BPE joins bytes),
 * text is released only when it is stable: not ending in an incomplete character (U+FFFD) and
 * not ending in a prefix of a stop string. A stop string cuts the text before it.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

const CONTEXT_TOKENS = 4;
/** Tokens decoded again on each push at most (about): older text is committed, so a long output costs O(n). */
const WINDOW_TOKENS = 48;

export class TextTracker {
  readonly #tokenizer: Pick<Tokenizer, 'decode'>;
  /** Tokens before the window (decoding context) and the window's start in #ids. */
  #context: number[];
  #base: string;
  #start = 0;
  /** Text of #ids[0, #start). */
  #committed = '';
  readonly #stop: readonly string[];
  readonly #ids: number[] = [];
  #text = '';
  #emitted = 0;
  /** Set once a stop string was found: the final text (cut before it). */
  stopped = false;

  constructor(tokenizer: Pick<Tokenizer, 'decode'>, promptIds: readonly number[], stop: readonly string[] = []) {
    this.#tokenizer = tokenizer;
    this.#context = promptIds.slice(-CONTEXT_TOKENS);
    this.#base = this.#decode(this.#context);
    this.#stop = stop;
  }

  #decode(ids: readonly number[]): string {
    return ids.length === 0 ? '' : this.#tokenizer.decode(ids, { skipSpecialTokens: true });
  }

  /** Text of `ids` after the context tokens. */
  #after(ids: readonly number[]): string {
    const full = this.#decode([...this.#context, ...ids]);
    return full.startsWith(this.#base) ? full.slice(this.#base.length) : this.#decode(ids);
  }

  /** The text of all tokens pushed so far (after a stop: cut before the stop string). */
  get text(): string {
    return this.#text;
  }

  /** Adds a token (not EOS); returns the newly releasable text ('' if none). */
  push(id: number): string {
    this.#ids.push(id);
    const windowText = this.#after(this.#ids.slice(this.#start));
    this.#text = this.#committed + windowText;
    if (this.#ids.length - this.#start > WINDOW_TOKENS) {
      // Commit all but the last few tokens of the window, when their text is a stable prefix.
      const next = this.#ids.length - CONTEXT_TOKENS;
      const part = this.#after(this.#ids.slice(this.#start, next));
      if (!part.endsWith('\uFFFD') && windowText.startsWith(part)) {
        this.#committed += part;
        this.#start = next;
        this.#context = this.#ids.slice(next - CONTEXT_TOKENS, next);
        this.#base = this.#decode(this.#context);
      }
    }
    if (this.#stop.length > 0) {
      const maxStop = Math.max(...this.#stop.map((s) => s.length));
      const from = Math.max(0, this.#emitted - maxStop);
      let cut = -1;
      for (const s of this.#stop) {
        const at = this.#text.indexOf(s, from);
        if (at >= 0 && (cut < 0 || at < cut)) cut = at;
      }
      if (cut >= 0) {
        this.#text = this.#text.slice(0, Math.max(cut, this.#emitted));
        this.stopped = true;
        return this.flush();
      }
    }
    let end = this.#text.length;
    while (end > this.#emitted && this.#text[end - 1] === '\uFFFD') end--;
    end -= this.#heldForStop(end);
    if (end <= this.#emitted) return '';
    const out = this.#text.slice(this.#emitted, end);
    this.#emitted = end;
    return out;
  }

  /** Length of the longest suffix of text[0, end) that is a proper prefix of a stop string. */
  #heldForStop(end: number): number {
    let held = 0;
    for (const s of this.#stop) {
      for (let k = Math.min(s.length - 1, end - this.#emitted); k > held; k--) {
        if (this.#text.startsWith(s.slice(0, k), end - k)) {
          held = k;
          break;
        }
      }
    }
    return held;
  }

  /** Releases everything not yet released (at the end of generation). */
  flush(): string {
    const out = this.#text.slice(this.#emitted);
    this.#emitted = this.#text.length;
    return out;
  }
}
