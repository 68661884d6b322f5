export * from './safetensors.ts';
export * from './hf_config.ts';
export * from './weights.ts';
export * from './model_dir.ts';
export * from './llama2c.ts';
export { writeFileAtomic } from './atomic.ts';
export { f16BitsToF32, bf16BitsToF32, f32ToF16Bits, f32ToBf16Bits } from './half.ts';
