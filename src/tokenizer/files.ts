/**
 * Reading a Hugging Face tokenizer folder: tokenizer.json (required),
 * tokenizer_config.json and special_tokens_map.json (both optional).
 *
 * Kept apart from tokenizer.ts so the parsing and error messages can be shared
 * by the sync and async loaders and tested on their own.
 */
import { host } from '../host.ts';
import { ConfigError, FormatError } from '../errors.ts';

export const TOKENIZER_FILE = 'tokenizer.json';
export const TOKENIZER_CONFIG_FILE = 'tokenizer_config.json';
export const SPECIAL_TOKENS_MAP_FILE = 'special_tokens_map.json';

/** A plain JSON object (what the tokenizer files contain at the top level). */
export type JsonObject = { [key: string]: unknown };

/** The raw contents of a tokenizer folder, parsed but not interpreted. */
export interface TokenizerFiles {
  dir: string;
  /** Full path of tokenizer.json (used in error messages). */
  tokenizerPath: string;
  tokenizerJson: JsonObject;
  /** tokenizer_config.json, or null when the folder has none. */
  tokenizerConfig: JsonObject | null;
  tokenizerConfigPath: string;
  /** special_tokens_map.json, or null when the folder has none. */
  specialTokensMap: JsonObject | null;
  specialTokensMapPath: string;
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse a JSON file's text; any syntax error or non-object top level becomes a FormatError naming the file. */
export function parseJsonObject(text: string, file: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new FormatError(file, `is not valid JSON (${why}); the file is corrupt or truncated, re-download it`);
  }
  if (!isObject(value)) {
    throw new FormatError(file, `must contain a JSON object at the top level, found ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  return value;
}

/** Builds the error for a folder that has no tokenizer.json, with a hint about what it does have. */
function missingTokenizerError(dir: string, tokenizerPath: string): FormatError {
  if (!host().fs.existsSync(dir)) {
    return new FormatError(tokenizerPath, `not found: the folder ${dir} does not exist. Pass a Hugging Face model folder that contains ${TOKENIZER_FILE}`);
  }
  if (!host().fs.statSync(dir).isDirectory()) {
    return new FormatError(tokenizerPath, `not found: ${dir} is a file, not a folder. Pass a Hugging Face model folder that contains ${TOKENIZER_FILE}`);
  }
  const slow = ['vocab.json', 'merges.txt', 'tokenizer.model', 'vocab.txt'].filter((f) => host().fs.existsSync(host().path.join(dir, f)));
  const hint = slow.length > 0
    ? ` The folder has ${slow.join(', ')} (a "slow" tokenizer) but no ${TOKENIZER_FILE}; create it with Python transformers: ` +
      `AutoTokenizer.from_pretrained(dir).save_pretrained(dir).`
    : '';
  return new FormatError(tokenizerPath, `not found. softprompt needs a Hugging Face model folder with ${TOKENIZER_FILE} (the "fast" tokenizer file).${hint}`);
}

function validateTokenizerJson(json: JsonObject, file: string): void {
  if (!isObject(json.model)) {
    throw new FormatError(file, `has no "model" object; this is not a Hugging Face ${TOKENIZER_FILE}`);
  }
  if (json.added_tokens !== undefined && !Array.isArray(json.added_tokens)) {
    throw new FormatError(file, `"added_tokens" must be an array`);
  }
}

function paths(dir: string): { tokenizerPath: string; tokenizerConfigPath: string; specialTokensMapPath: string } {
  return {
    tokenizerPath: host().path.join(dir, TOKENIZER_FILE),
    tokenizerConfigPath: host().path.join(dir, TOKENIZER_CONFIG_FILE),
    specialTokensMapPath: host().path.join(dir, SPECIAL_TOKENS_MAP_FILE),
  };
}

function isNotFound(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'ENOENT';
}

async function readOptional(file: string): Promise<string | null> {
  try {
    return await host().fsPromises.readFile(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new FormatError(file, `cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function readOptionalSync(file: string): string | null {
  try {
    return host().fs.readFileSync(file, 'utf8');
  } catch (e) {
    if (isNotFound(e)) return null;
    throw new FormatError(file, `cannot be read: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function assemble(
  dir: string,
  p: ReturnType<typeof paths>,
  tok: string | null,
  cfg: string | null,
  stm: string | null,
): TokenizerFiles {
  if (tok === null) throw missingTokenizerError(dir, p.tokenizerPath);
  const tokenizerJson = parseJsonObject(tok, p.tokenizerPath);
  validateTokenizerJson(tokenizerJson, p.tokenizerPath);
  return {
    dir,
    tokenizerPath: p.tokenizerPath,
    tokenizerJson,
    tokenizerConfig: cfg === null ? null : parseJsonObject(cfg, p.tokenizerConfigPath),
    tokenizerConfigPath: p.tokenizerConfigPath,
    specialTokensMap: stm === null ? null : parseJsonObject(stm, p.specialTokensMapPath),
    specialTokensMapPath: p.specialTokensMapPath,
  };
}

/** Reads and parses the tokenizer files of a model folder. */
export async function readTokenizerFiles(dir: string): Promise<TokenizerFiles> {
  const p = paths(dir);
  const [tok, cfg, stm] = await Promise.all([
    readOptional(p.tokenizerPath),
    readOptional(p.tokenizerConfigPath),
    readOptional(p.specialTokensMapPath),
  ]);
  return assemble(dir, p, tok, cfg, stm);
}

/** Synchronous twin of {@link readTokenizerFiles}. */
export function readTokenizerFilesSync(dir: string): TokenizerFiles {
  const p = paths(dir);
  return assemble(dir, p, readOptionalSync(p.tokenizerPath), readOptionalSync(p.tokenizerConfigPath), readOptionalSync(p.specialTokensMapPath));
}

/**
 * A special-token entry as written by transformers: a plain string, an AddedToken
 * object (`{"content": "<s>", "__type": "AddedToken", ...}`), or null/absent.
 * Returns the token's text, or undefined for null/absent.
 */
export function specialTokenContent(value: unknown, file: string, field: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  throw new ConfigError(file, field, `must be a string, an object with a string "content", or null; found ${JSON.stringify(value)}`);
}

/** The special-token names the wrapper understands. */
export const SPECIAL_TOKEN_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token'] as const;
export type SpecialTokenField = (typeof SPECIAL_TOKEN_FIELDS)[number];

/** Special-token strings and flags resolved from tokenizer_config.json and special_tokens_map.json. */
export interface ResolvedTokenizerConfig {
  tokens: Partial<Record<SpecialTokenField, string>>;
  additionalSpecialTokens: string[];
  /** tokenizer_config add_bos_token, when it is a boolean. */
  addBosToken: boolean | undefined;
  /** tokenizer_config add_eos_token, when it is a boolean. */
  addEosToken: boolean | undefined;
  /** tokenizer_config clean_up_tokenization_spaces; false when absent (so decode round-trips text). */
  cleanUpTokenizationSpaces: boolean;
  /** The config object handed to @huggingface/tokenizers (special tokens flattened to strings). */
  libConfig: JsonObject;
}

function optionalBool(obj: JsonObject | null, file: string, field: string): boolean | undefined {
  const v = obj?.[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(file, field, `must be true or false, found ${JSON.stringify(v)}`);
  return v;
}

/**
 * Merges tokenizer_config.json with special_tokens_map.json the way transformers does:
 * a value present (non-null) in special_tokens_map.json wins over tokenizer_config.json.
 */
export function resolveTokenizerConfig(files: TokenizerFiles): ResolvedTokenizerConfig {
  const cfg = files.tokenizerConfig;
  const stm = files.specialTokensMap;
  const tokens: Partial<Record<SpecialTokenField, string>> = {};
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const fromMap = stm ? specialTokenContent(stm[field], files.specialTokensMapPath, field) : undefined;
    const fromCfg = cfg ? specialTokenContent(cfg[field], files.tokenizerConfigPath, field) : undefined;
    const v = fromMap ?? fromCfg;
    if (v !== undefined) tokens[field] = v;
  }

  const additional: string[] = [];
  for (const [obj, file] of [[cfg, files.tokenizerConfigPath], [stm, files.specialTokensMapPath]] as const) {
    const list = obj?.additional_special_tokens;
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ConfigError(file, 'additional_special_tokens', 'must be an array');
    list.forEach((item, i) => {
      const s = specialTokenContent(item, file, `additional_special_tokens[${i}]`);
      if (s !== undefined && !additional.includes(s)) additional.push(s);
    });
  }

  const cleanUp = optionalBool(cfg, files.tokenizerConfigPath, 'clean_up_tokenization_spaces') ?? false;
  const libConfig: JsonObject = { ...(cfg ?? {}) };
  for (const field of SPECIAL_TOKEN_FIELDS) {
    if (tokens[field] !== undefined) libConfig[field] = tokens[field];
    else delete libConfig[field];
  }
  libConfig.additional_special_tokens = additional;
  libConfig.clean_up_tokenization_spaces = cleanUp;

  return {
    tokens,
    additionalSpecialTokens: additional,
    addBosToken: optionalBool(cfg, files.tokenizerConfigPath, 'add_bos_token'),
    addEosToken: optionalBool(cfg, files.tokenizerConfigPath, 'add_eos_token'),
    cleanUpTokenizationSpaces: cleanUp,
    libConfig,
  };
}
