/**
 * What a chat template needs from a model folder: the chat template (tokenizer_config.json's
 * `chat_template`, the "default" entry when it is a list, or chat_template.jinja), the special
 * tokens by content (tokenizer.json's added tokens marked special) and generation_config.json's
 * EOS ids, which chat models use to list their end-of-turn tokens.
 */
import { host } from '../host.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { TokenizerInfo } from './types.ts';

function readJson(path: string): Record<string, unknown> | null {
  if (!host().fs.existsSync(path)) return null;
  try {
    const v: unknown = JSON.parse(host().fs.readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null; // the tokenizer loader reports broken files; here a missing field is enough
  }
}

/** The chat template of a tokenizer_config.json's `chat_template` value (string, or [{name, template}]). */
export function chatTemplateOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const entries = value.filter((e): e is { name: unknown; template: string } => typeof e === 'object' && e !== null && typeof (e as { template?: unknown }).template === 'string');
    return (entries.find((e) => e.name === 'default') ?? entries[0])?.template ?? null;
  }
  return null;
}

export function readTokenizerInfo(dir: string, tokenizer: Tokenizer, maxPositions: number): TokenizerInfo {
  const config = readJson(host().path.join(dir, 'tokenizer_config.json'));
  let chatTemplate = chatTemplateOf(config?.['chat_template']);
  const jinjaFile = host().path.join(dir, 'chat_template.jinja');
  if (chatTemplate === null && host().fs.existsSync(jinjaFile)) chatTemplate = host().fs.readFileSync(jinjaFile, 'utf8');
  const specialTokens: Record<string, number> = {};
  const added = readJson(host().path.join(dir, 'tokenizer.json'))?.['added_tokens'];
  if (Array.isArray(added)) {
    for (const t of added as { id?: unknown; content?: unknown; special?: unknown }[]) {
      if (t.special === true && typeof t.content === 'string' && typeof t.id === 'number') specialTokens[t.content] = t.id;
    }
  }
  const eos = readJson(host().path.join(dir, 'generation_config.json'))?.['eos_token_id'];
  const generationEosIds = (Array.isArray(eos) ? eos : [eos]).filter((x): x is number => Number.isInteger(x));
  return {
    bosToken: tokenizer.bosToken ?? null,
    eosToken: tokenizer.eosToken ?? null,
    eosTokenId: tokenizer.eosTokenId ?? null,
    chatTemplate,
    specialTokens,
    generationEosIds,
    vocabSize: tokenizer.vocabSize,
    maxPositions,
  };
}
