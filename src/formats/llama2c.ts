/**
 * Legacy (version-0) llama2.c checkpoints, e.g. Karpathy's tinyllamas stories*.bin.
 *
 * Header `<7i`: dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len. A negative
 * vocab_size means the classifier is not shared and follows the RoPE tables. Then fp32 arrays:
 * tok_embeddings, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real,
 * freq_cis_imag [, wcls]. We return HF Llama names and layout, so the same model builder runs it.
 */
import { host } from '../host.ts';
import { FormatError } from '../errors.ts';
import { tensor } from '../tensor.ts';
import type { Tensor } from '../tensor.ts';
import type { ModelConfig } from './hf_config.ts';
import { plainLlamaSpec } from './decoder_config.ts';
import { memoryWeightStore } from './weight_store.ts';
import type { WeightStore } from './weights.ts';

const HEADER_BYTES = 28;
/** Version 1+ exports start with this magic ("ak42" little-endian). */
const EXPORT_MAGIC = 0x616b3432;

export interface Llama2cCheckpoint {
  readonly config: ModelConfig;
  readonly weights: WeightStore;
}

/**
 * HF's `permute` from convert_llama_weights_to_hf.py: rows of each head go from interleaved
 * RoPE pairs (2i, 2i+1) to rotate-half pairs (i, i + headDim/2).
 * w.view(heads, rows/heads/2, 2, cols).transpose(1, 2).reshape(rows, cols)
 */
export function permuteRope(w: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const headDim = rows / heads;
  const half = headDim / 2;
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const src = (h * headDim + 2 * i + j) * cols;
        const dst = (h * headDim + j * half + i) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

function readHeader(bytes: Uint8Array, file: string): number[] {
  if (bytes.byteLength < HEADER_BYTES) {
    throw new FormatError(file, `truncated: a llama2.c checkpoint starts with a 28-byte header, file has ${bytes.byteLength} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, HEADER_BYTES);
  if (view.getUint32(0, true) === EXPORT_MAGIC) {
    throw new FormatError(file, 'this is a version-1+ llama2.c export (magic "ak42"); only the legacy version-0 format is supported');
  }
  return Array.from({ length: 7 }, (_, i) => view.getInt32(4 * i, true));
}

export function parseLlama2c(bytes: Uint8Array, file: string): Llama2cCheckpoint {
  const [dim, hidden, layers, heads, kvHeads, vocabSigned, seqLen] = readHeader(bytes, file) as [number, number, number, number, number, number, number];
  const vocab = Math.abs(vocabSigned);
  const shared = vocabSigned > 0;
  const fields = { dim, hidden_dim: hidden, n_layers: layers, n_heads: heads, n_kv_heads: kvHeads, vocab_size: vocab, seq_len: seqLen };
  for (const [k, v] of Object.entries(fields)) {
    if (!(v > 0)) throw new FormatError(file, `corrupt header: ${k} is ${v}; expected a positive integer (is this a llama2.c checkpoint?)`);
  }
  if (dim % heads !== 0 || (dim / heads) % 2 !== 0 || heads % kvHeads !== 0) {
    throw new FormatError(file, `corrupt header: dim ${dim}, n_heads ${heads}, n_kv_heads ${kvHeads} do not give an even head size shared by whole kv groups`);
  }
  const headDim = dim / heads;
  const kvDim = kvHeads * headDim;

  // Array sizes in file order, so the expected file size follows from the header.
  const sizes: Array<[string, number]> = [
    ['tok_embeddings', vocab * dim],
    ['rms_att', layers * dim],
    ['wq', layers * dim * dim],
    ['wk', layers * kvDim * dim],
    ['wv', layers * kvDim * dim],
    ['wo', layers * dim * dim],
    ['rms_ffn', layers * dim],
    ['w1', layers * hidden * dim],
    ['w2', layers * dim * hidden],
    ['w3', layers * hidden * dim],
    ['rms_final', dim],
    ['freq_cis_real', seqLen * (headDim / 2)],
    ['freq_cis_imag', seqLen * (headDim / 2)],
  ];
  if (!shared) sizes.push(['wcls', vocab * dim]);
  const totalFloats = sizes.reduce((n, [, s]) => n + s, 0);
  const expected = HEADER_BYTES + 4 * totalFloats;
  if (bytes.byteLength < expected) {
    throw new FormatError(file, `truncated: the header (dim ${dim}, ${layers} layers, vocab ${vocabSigned}) implies ${expected} bytes, file has ${bytes.byteLength}`);
  }
  if (bytes.byteLength > expected) {
    throw new FormatError(file, `the header (dim ${dim}, ${layers} layers, vocab ${vocabSigned}) implies ${expected} bytes, but the file has ${bytes.byteLength - expected} more; not a legacy version-0 llama2.c checkpoint?`);
  }

  // One aligned copy of all floats; each array is then a slice of it.
  const floats = new Float32Array(totalFloats);
  new Uint8Array(floats.buffer).set(bytes.subarray(HEADER_BYTES, expected));
  const arrays = new Map<string, Float32Array>();
  let at = 0;
  for (const [name, size] of sizes) {
    arrays.set(name, floats.subarray(at, at + size));
    at += size;
  }
  const arr = (name: string): Float32Array => arrays.get(name)!;
  /** Layer l of a stacked [layers, ...] array, as its own buffer. */
  const layer = (name: string, l: number, size: number): Float32Array => arr(name).slice(l * size, (l + 1) * size);

  const t = (shape: number[], data: Float32Array): Tensor<'float32'> => tensor('float32', shape, data);
  const out = new Map<string, Tensor>();
  out.set('model.embed_tokens.weight', t([vocab, dim], arr('tok_embeddings').slice()));
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    out.set(`${p}input_layernorm.weight`, t([dim], layer('rms_att', l, dim)));
    out.set(`${p}self_attn.q_proj.weight`, t([dim, dim], permuteRope(layer('wq', l, dim * dim), dim, dim, heads)));
    out.set(`${p}self_attn.k_proj.weight`, t([kvDim, dim], permuteRope(layer('wk', l, kvDim * dim), kvDim, dim, kvHeads)));
    out.set(`${p}self_attn.v_proj.weight`, t([kvDim, dim], layer('wv', l, kvDim * dim)));
    out.set(`${p}self_attn.o_proj.weight`, t([dim, dim], layer('wo', l, dim * dim)));
    out.set(`${p}post_attention_layernorm.weight`, t([dim], layer('rms_ffn', l, dim)));
    out.set(`${p}mlp.gate_proj.weight`, t([hidden, dim], layer('w1', l, hidden * dim)));
    out.set(`${p}mlp.down_proj.weight`, t([dim, hidden], layer('w2', l, dim * hidden)));
    out.set(`${p}mlp.up_proj.weight`, t([hidden, dim], layer('w3', l, hidden * dim)));
  }
  out.set('model.norm.weight', t([dim], arr('rms_final').slice()));
  // freq_cis tables are dropped: HF computes RoPE from rope_theta (the stored ones are θ=10000).
  if (!shared) out.set('lm_head.weight', t([vocab, dim], arr('wcls').slice()));

  const base: ModelConfig = {
    modelType: 'llama',
    vocabSize: vocab,
    hiddenSize: dim,
    numLayers: layers,
    numHeads: heads,
    numKvHeads: kvHeads,
    headDim,
    intermediateSize: hidden,
    maxPositions: seqLen,
    normEps: 1e-5, // llama2.c's RMSNorm epsilon
    ropeTheta: 10000,
    tieWordEmbeddings: shared,
    activation: 'silu',
    attentionBias: false,
    mlpBias: false,
    bosTokenId: 1, // llama2.c uses the Llama sentencepiece ids: <unk>=0, <s>=1, </s>=2
    eosTokenIds: [2],
    raw: { format: 'llama2c-v0', ...fields, vocab_size: vocabSigned },
  };
  const config: ModelConfig = { ...base, decoder: plainLlamaSpec(base) }; // the spec an HF config of it would give
  return { config, weights: memoryWeightStore(out, file) };
}

/** Read a legacy llama2.c checkpoint as HF-named Llama weights. */
export function readLlama2c(binPath: string): Llama2cCheckpoint {
  return parseLlama2c(host().fs.readFileSync(binPath), binPath);
}

export interface Llama2cTokenizer {
  readonly maxTokenLength: number;
  readonly pieces: Array<{ piece: string; score: number }>;
}

/**
 * llama2.c tokenizer export (tokenizer.bin / tok512.bin): int32 max_token_length, then per token
 * float32 score, int32 len, len UTF-8 bytes, until the end of the file.
 */
export function readLlama2cTokenizer(path: string): Llama2cTokenizer {
  const bytes = host().fs.readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 4) throw new FormatError(path, `truncated: file has ${bytes.byteLength} bytes, fewer than the 4-byte max_token_length`);
  const maxTokenLength = view.getInt32(0, true);
  const decoder = new TextDecoder('utf-8');
  const pieces: Array<{ piece: string; score: number }> = [];
  let at = 4;
  while (at < bytes.byteLength) {
    if (at + 8 > bytes.byteLength) throw new FormatError(path, `truncated: token ${pieces.length} starts at byte ${at} but its 8-byte score/length does not fit`);
    const score = view.getFloat32(at, true);
    const len = view.getInt32(at + 4, true);
    at += 8;
    if (len < 0 || at + len > bytes.byteLength) {
      throw new FormatError(path, `truncated or corrupt: token ${pieces.length} claims ${len} bytes at offset ${at}, file has ${bytes.byteLength}`);
    }
    pieces.push({ piece: decoder.decode(bytes.subarray(at, at + len)), score });
    at += len;
  }
  return { maxTokenLength, pieces };
}
