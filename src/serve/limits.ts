/**
 * Bounds on the work one request may ask for (issue 16): characters per text field and labels
 * per classification. Checked after validation, before anything is tokenized, so an oversized
 * request costs no more than reading its body; each refusal is a 400 naming the field.
 */
import { badField } from './errors.ts';
import type { ChatParams } from './chat.ts';
import type { ClassifyParams, CompletionParams } from './validate.ts';

/** Longest text field a request may hold, in characters (the encoder's own default). */
export { DEFAULT_MAX_FIELD_CHARS } from '../data/encode.ts';
/** Labels one /v1/classify request may score: memory and time grow with their number. */
export const DEFAULT_MAX_LABELS = 128;

export interface RequestLimits {
  readonly maxFieldChars: number;
  readonly maxLabels: number;
}

function checkText(param: string, text: string, max: number): void {
  if (text.length > max) {
    throw badField(param, `${param} holds ${text.length} characters, over the server's limit of ${max} per field (--max-field-chars); send a shorter text`);
  }
}

export function checkCompletionLimits(p: CompletionParams, limits: RequestLimits): void {
  p.prompts.forEach((s, i) => {
    if (typeof s === 'string') checkText(p.promptWasArray ? `prompt[${i}]` : 'prompt', s, limits.maxFieldChars);
  });
}

export function checkChatLimits(p: ChatParams, limits: RequestLimits): void {
  p.messages.forEach((m, i) => checkText(`messages[${i}].content`, m.content, limits.maxFieldChars));
}

export function checkClassifyLimits(p: ClassifyParams, limits: RequestLimits): void {
  if (typeof p.input === 'string') checkText('input', p.input, limits.maxFieldChars);
  else for (const [k, v] of Object.entries(p.input)) checkText(`input.${k}`, v, limits.maxFieldChars);
  if (p.template !== undefined) checkText('template', p.template, limits.maxFieldChars);
  if (p.verbalizer !== undefined) {
    const n = Object.keys(p.verbalizer).length;
    if (n > limits.maxLabels) {
      throw badField('verbalizer', `verbalizer holds ${n} labels; the server scores at most ${limits.maxLabels} per request (--max-labels)`);
    }
    for (const [k, v] of Object.entries(p.verbalizer)) checkText(`verbalizer.${k}`, v, limits.maxFieldChars);
  }
}
