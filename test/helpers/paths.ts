/** Where ../shared lives for tests (CI clones the repo with shared/ beside it). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const SHARED = process.env['SOFTPROMPT_SHARED'] ?? [join(repo, '..', 'shared'), join(repo, 'shared')].find((p) => existsSync(p)) ?? join(repo, '..', 'shared');
export const GOLDEN = join(SHARED, 'golden');
export const STORIES = join(SHARED, 'models', 'stories260K');
export const GPT2_TOKENIZER = join(SHARED, 'tokenizers', 'gpt2');
