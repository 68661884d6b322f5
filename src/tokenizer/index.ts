export { Tokenizer, loadTokenizer, loadTokenizerSync } from './tokenizer.ts';
export type { ContinuationEncoding, DecodeOptions, EncodeOptions } from './tokenizer.ts';
export { readTokenizerFiles, readTokenizerFilesSync, resolveTokenizerConfig } from './files.ts';
export type { ResolvedTokenizerConfig, TokenizerFiles } from './files.ts';
