// AdapterError lives in src/errors.ts (methods/ below adapter/ throws it too); re-exported for adapter/ importers.
export { AdapterError } from '../errors.ts';
