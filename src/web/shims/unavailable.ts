/**
 * What the browser bundle gets for Node-only modules (onnxruntime-node, child_process, ...):
 * anything used from them throws, naming the module. The web entry never reaches them.
 */
const fail = (name: string) => (): never => {
  throw new Error(`${name} is not available in the browser build of softprompt`);
};
export const InferenceSession = { create: fail('onnxruntime-node') };
export const Tensor = fail('onnxruntime-node');
export const env = {};
export const spawn = fail('child_process');
export const spawnSync = fail('child_process');
export const fileURLToPath = (u: string | URL): string => new URL(String(u)).pathname;
export const pathToFileURL = (p: string): URL => new URL(`file://${p}`);
export default { InferenceSession, Tensor, env, spawn, spawnSync, fileURLToPath, pathToFileURL };
export class Readable {
  constructor() {
    fail('stream')();
  }
}
export const pipeline = fail('stream/promises');
export const open = fail('fs/promises');
