/**
 * What the browser bundle gets for the Node-only modules the core loads lazily (the ORT-node
 * backend, @huggingface/hub downloads): using them throws, naming the module. The web worker sets
 * its own backend and fetches files itself, so it never reaches them.
 */
const fail = (name: string) => (): never => {
  throw new Error(`${name} is not available in the browser build of softprompt`);
};
export const ortBackend = new Proxy({}, { get: fail('the onnxruntime-node backend') });
export const downloadFile = fail('@huggingface/hub');
export const snapshotDownload = fail('@huggingface/hub');
export default { ortBackend, downloadFile, snapshotDownload };
