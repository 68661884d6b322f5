/**
 * An adapter that cannot be used with this model or by softprompt: a PEFT type or task we do
 * not run, a size that disagrees with the model, a different base model. The message names the
 * adapter file and the field, and says what the model has instead.
 */
import { SoftpromptError } from '../errors.ts';

export class AdapterError extends SoftpromptError {
  constructor(readonly file: string, readonly field: string | undefined, readonly detail: string) {
    super(field === undefined ? `${file}: ${detail}` : `${file}: field "${field}" ${detail}`);
  }
}
