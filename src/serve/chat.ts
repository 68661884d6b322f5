/**
 * Chat completions: request validation and the chat template.
 *
 * The template is the model's own (tokenizer_config.json's `chat_template`) or the file given to
 * `--chat-template`, rendered by @huggingface/jinja (the engine transformers.js uses) with
 * `messages`, `add_generation_prompt: true`, the special tokens (`bos_token`, `eos_token`, ...)
 * and jinja's own `raise_exception`. The rendered text is tokenized without adding special tokens (the
 * template writes them), as transformers' apply_chat_template does. Generation stops at EOS, at
 * generation_config.json's EOS ids, and at the special tokens the template writes that end a turn.
 */
import { Template } from '@huggingface/jinja';
import type { TokenizerInfo } from '../infer/types.ts';
import { ApiError, badField } from './errors.ts';
import type { CompletionLimits, SamplingParams } from './validate.ts';
import { describe, given, intField, isPlainObject, parseSampling, refuseUnknown, requireObject } from './validate.ts';

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
}

export interface ChatParams extends SamplingParams {
  messages: ChatMessage[];
  /** logprobs: true → the alternatives per token (top_logprobs, 0 by default); null: no logprobs. */
  topLogprobs: number | null;
}

const CHAT_FIELDS = new Set([
  'model', 'messages', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'n', 'stream', 'stream_options',
  'logprobs', 'top_logprobs', 'stop', 'seed', 'logit_bias', 'frequency_penalty', 'presence_penalty', 'user', 'metadata', 'store',
  'response_format',
]);

const ROLES = new Set(['system', 'developer', 'user', 'assistant']);

/** POST /v1/chat/completions. */
export function parseChat(body: unknown, limits: CompletionLimits): ChatParams {
  const o = requireObject(body);
  refuseUnknown(o, CHAT_FIELDS, 'chat completions (tools, audio and images are not implemented)');
  if (!given(o, 'messages')) throw badField('messages', 'messages is required: an array of {role, content}');
  const m = o['messages'];
  if (!Array.isArray(m) || m.length === 0) throw badField('messages', `messages must be a non-empty array of {role, content}, got ${describe(m)}`);
  const messages = m.map((x: unknown, i): ChatMessage => {
    const at = `messages[${i}]`;
    if (!isPlainObject(x)) throw badField(at, `${at} must be an object {role, content}, got ${describe(x)}`);
    for (const k of Object.keys(x)) if (!['role', 'content', 'name'].includes(k)) throw badField(`${at}.${k}`, `${at}.${k} is not supported (a message has role, content and name)`);
    const role = x['role'];
    if (typeof role !== 'string' || !ROLES.has(role)) throw badField(`${at}.role`, `${at}.role must be one of ${[...ROLES].join(', ')}, got ${describe(role)}`);
    const c = x['content'];
    let content: string;
    if (typeof c === 'string') content = c;
    else if (Array.isArray(c)) {
      content = c.map((part: unknown, j) => {
        const pa = `${at}.content[${j}]`;
        if (!isPlainObject(part) || part['type'] !== 'text') throw badField(`${pa}.type`, `${pa} must be {type: "text", text}; other content types (images, audio) are not supported`);
        if (typeof part['text'] !== 'string') throw badField(`${pa}.text`, `${pa}.text must be a string, got ${describe(part['text'])}`);
        return part['text'];
      }).join('');
    } else throw badField(`${at}.content`, `${at}.content must be a string or an array of text parts, got ${describe(c)}`);
    const out: ChatMessage = { role, content };
    if (given(x, 'name')) {
      if (typeof x['name'] !== 'string') throw badField(`${at}.name`, `${at}.name must be a string`);
      out.name = x['name'];
    }
    return out;
  });
  const sampling = parseSampling(o, limits, { minTokens: 1 });
  if (sampling.n > limits.maxPrompts) throw badField('n', `n is ${sampling.n}; at most ${limits.maxPrompts} per request`);
  let logprobs = false;
  if (given(o, 'logprobs')) {
    if (typeof o['logprobs'] !== 'boolean') throw badField('logprobs', `logprobs must be a boolean in the chat API (top_logprobs gives the count), got ${describe(o['logprobs'])}`);
    logprobs = o['logprobs'];
  }
  const top = intField(o, 'top_logprobs', 0, limits.caps.topLogprobs, "the server's cap on top_logprobs");
  if (top !== undefined && !logprobs) throw badField('top_logprobs', 'top_logprobs needs logprobs: true');
  if (given(o, 'store') && o['store'] !== false) throw badField('store', `store is not supported (only false), got ${describe(o['store'])}`);
  if (given(o, 'response_format')) {
    const rf = o['response_format'];
    if (!isPlainObject(rf) || rf['type'] !== 'text' || Object.keys(rf).length !== 1) throw badField('response_format', 'response_format is not supported (only {"type": "text"}): JSON modes are not implemented');
  }
  return { ...sampling, messages, topLogprobs: logprobs ? (top ?? 0) : null };
}

/** Special tokens that end a turn in the chat formats in use (ChatML, Llama 3, Phi, Gemma, ...). */
const END_OF_TURN = /^(<\|im_end\|>|<\|eot_id\|>|<\|end\|>|<end_of_turn>|<\|endoftext\|>|<\|end_of_text\|>|<\/s>)$/;

/** A compiled chat template and the stop ids that go with it. */
export class ChatTemplate {
  readonly #template: Template;
  readonly #info: TokenizerInfo;
  /** EOS, generation_config's EOS ids, and the end-of-turn special tokens the template writes. */
  readonly stopTokenIds: readonly number[];
  /** Where the template came from (for messages). */
  readonly source: string;

  constructor(source: string, text: string, info: TokenizerInfo) {
    this.source = source;
    this.#info = info;
    try {
      this.#template = new Template(text);
    } catch (e) {
      throw new ApiError(500, `the chat template (${source}) does not parse: ${e instanceof Error ? e.message : String(e)}`, null, 'server_error', 'chat_template');
    }
    const stops = new Set<number>(info.generationEosIds);
    if (info.eosTokenId !== null) stops.add(info.eosTokenId);
    for (const [content, id] of Object.entries(info.specialTokens)) if (END_OF_TURN.test(content) && text.includes(content)) stops.add(id);
    this.stopTokenIds = [...stops];
  }

  /** The prompt text for `messages`, ending where the assistant's answer begins. */
  render(messages: readonly ChatMessage[]): string {
    const info = this.#info;
    try {
      return this.#template.render({
        messages,
        add_generation_prompt: true,
        bos_token: info.bosToken ?? '',
        eos_token: info.eosToken ?? '',
        // @huggingface/jinja defines raise_exception itself (its error becomes the 400 below).
      });
    } catch (e) {
      if (e instanceof ApiError) throw e;
      throw new ApiError(400, `the chat template (${this.source}) failed on these messages: ${e instanceof Error ? e.message : String(e)}`, 'messages');
    }
  }
}

/** The 400 for a model without a chat template. */
export function noChatTemplate(model: string): ApiError {
  return new ApiError(
    400,
    `the model "${model}" has no chat template (tokenizer_config.json has no chat_template): use /v1/completions, or start the server with --chat-template FILE (a Jinja template)`,
    'messages', 'invalid_request_error', 'no_chat_template',
  );
}

