/**
 * Per-task `--template` and `--verbalizer` values for multitask prompt tuning: each may map task
 * names to their own value (inline JSON, or a mapping in a config file):
 *
 *   --template '{"gender": "{text}\\nThe story is about a", "sentiment": "{text}\\nIt was"}'
 *   --verbalizer '{"gender": {"girl": " girl", "boy": " boy"}, "sentiment": {"negative": " bad", "positive": " good"}}'
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { Verbalizer } from '../data/verbalizer.ts';
import { SoftpromptError } from '../errors.ts';

type Json = Record<string, unknown>;

function jsonObject(value: string): Json | null {
  const text = value.trim();
  if (!text.startsWith('{')) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : null;
  } catch {
    return null;
  }
}

/** `--template` as a map task → template text, or null when it is one template for every task. */
export function perTaskTemplates(value: string): Map<string, string> | null {
  const o = jsonObject(value);
  if (!o || Object.keys(o).length === 0 || !Object.values(o).every((v) => typeof v === 'string')) return null;
  return new Map(Object.entries(o as Record<string, string>));
}

/** `--verbalizer` (inline JSON or a JSON file) as a map task → verbalizer, or null when it is one verbalizer. */
export function perTaskVerbalizers(value: string, flag = '--verbalizer'): Map<string, Verbalizer> | null {
  let o = jsonObject(value);
  let source = flag;
  if (!o && existsSync(value) && statSync(value).isFile()) {
    o = jsonObject(readFileSync(value, 'utf8'));
    source = value;
  }
  if (!o || Object.keys(o).length === 0) return null;
  const values = Object.values(o);
  if (!values.some((v) => v !== null && typeof v === 'object')) return null;
  const out = new Map<string, Verbalizer>();
  for (const [task, v] of Object.entries(o)) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new SoftpromptError(`${source}: per-task verbalizer for "${task}" must be an object of label -> text (every value of a per-task verbalizer is one task's verbalizer)`);
    }
    out.set(task, new Verbalizer(v as Record<string, string>, `${source} (task ${task})`));
  }
  return out;
}
