/**
 * Random-weight Llama folders at real shapes, written tensor by tensor (never the whole
 * checkpoint in memory): config.json plus one float32 model.safetensors.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './rng.ts';

export interface LlamaShape {
  readonly name: string;
  readonly hidden: number;
  readonly layers: number;
  readonly ffn: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly vocab: number;
  readonly tied: boolean;
  /** The rest of the published config.json (test/fixtures/hub_configs): RoPE base, context, special ids. */
  readonly ropeTheta: number;
  readonly maxPositions: number;
  readonly bos: number;
  readonly eos: number;
}

export const SCALE_SHAPES: Record<string, LlamaShape> = {
  'smollm2-360m': {
    name: 'smollm2-360m', hidden: 960, layers: 32, ffn: 2560, heads: 15, kvHeads: 5, vocab: 49152, tied: true,
    ropeTheta: 100000, maxPositions: 8192, bos: 0, eos: 0,
  },
  'tinyllama-1.1b': {
    name: 'tinyllama-1.1b', hidden: 2048, layers: 22, ffn: 5632, heads: 32, kvHeads: 4, vocab: 32000, tied: false,
    ropeTheta: 10000, maxPositions: 2048, bos: 1, eos: 2,
  },
};

function tensors(s: LlamaShape): [string, number[]][] {
  const hd = s.hidden / s.heads;
  const out: [string, number[]][] = [['model.embed_tokens.weight', [s.vocab, s.hidden]]];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}`;
    out.push(
      [`${p}.input_layernorm.weight`, [s.hidden]],
      [`${p}.self_attn.q_proj.weight`, [s.heads * hd, s.hidden]],
      [`${p}.self_attn.k_proj.weight`, [s.kvHeads * hd, s.hidden]],
      [`${p}.self_attn.v_proj.weight`, [s.kvHeads * hd, s.hidden]],
      [`${p}.self_attn.o_proj.weight`, [s.hidden, s.heads * hd]],
      [`${p}.post_attention_layernorm.weight`, [s.hidden]],
      [`${p}.mlp.gate_proj.weight`, [s.ffn, s.hidden]],
      [`${p}.mlp.up_proj.weight`, [s.ffn, s.hidden]],
      [`${p}.mlp.down_proj.weight`, [s.hidden, s.ffn]],
    );
  }
  out.push(['model.norm.weight', [s.hidden]]);
  if (!s.tied) out.push(['lm_head.weight', [s.vocab, s.hidden]]);
  return out;
}

/** Writes the folder; returns the float32 parameter count. Norm weights are 1, the rest U(±0.035) (std 0.02). */
export function writeLlamaFolder(dir: string, s: LlamaShape, seed = 1): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: s.hidden, num_hidden_layers: s.layers,
    intermediate_size: s.ffn, num_attention_heads: s.heads, num_key_value_heads: s.kvHeads, vocab_size: s.vocab,
    tie_word_embeddings: s.tied, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: s.ropeTheta,
    max_position_embeddings: s.maxPositions, bos_token_id: s.bos, eos_token_id: s.eos, torch_dtype: 'float32',
  }, null, 2));
  const list = tensors(s);
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, shape] of list) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape, data_offsets: [at, at + bytes] };
    at += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(join(dir, 'model.safetensors'), 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, len);
    writeSync(fd, json);
    const rng = new Rng(seed);
    const chunk = new Float32Array(1 << 22);
    const a = 0.02 * Math.sqrt(3);
    for (const [name, shape] of list) {
      let left = shape.reduce((x, y) => x * y, 1);
      const norm = name.endsWith('norm.weight');
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        for (let i = 0; i < n; i++) chunk[i] = norm ? 1 : (rng.u32() / 2147483648 - 1) * a;
        writeSync(fd, new Uint8Array(chunk.buffer, 0, n * 4));
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return at / 4;
}
