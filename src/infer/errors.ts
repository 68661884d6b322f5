/** Errors of infer/: bad requests (unknown task, bad sampling settings, a prompt that does not fit). */
import { SoftpromptError } from '../errors.ts';

/**
 * A request the engine refuses. `field` names the request field at fault (serve/ maps it to a 400
 * naming the field); absent for problems that are not one field's.
 */
export class InferenceError extends SoftpromptError {
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}
