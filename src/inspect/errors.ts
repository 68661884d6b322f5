/**
 * Inspecting adapters: an adapter whose vectors cannot be read the way asked (a prefix in
 * discretisation, prompts of different widths in a comparison), or a missing input.
 */
import { SoftpromptError } from '../errors.ts';

export class InspectError extends SoftpromptError {}
