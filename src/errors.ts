/**
 * Typed errors. Every message says what was wrong and where (file, field, shape),
 * so a user can fix the input without reading our code.
 */
export class SoftpromptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A file on disk is unreadable, truncated, corrupt or of the wrong format. */
export class FormatError extends SoftpromptError {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
  }
}

/** A tensor the model needs is not in the checkpoint. */
export class MissingTensorError extends FormatError {
  constructor(file: string, readonly tensor: string) {
    super(file, `missing tensor "${tensor}"`);
  }
}

/** A tensor's shape disagrees with what config.json implies. */
export class ShapeMismatchError extends FormatError {
  constructor(file: string, readonly tensor: string, readonly expected: readonly number[], readonly actual: readonly number[]) {
    super(file, `tensor "${tensor}" has shape [${actual.join(', ')}] but the config implies [${expected.join(', ')}]`);
  }
}

/** A dtype we do not read (safetensors) or cannot compute in. */
export class UnsupportedDtypeError extends FormatError {
  constructor(file: string, readonly dtype: string, detail = '') {
    super(file, `unsupported dtype "${dtype}"${detail ? `: ${detail}` : ''}`);
  }
}

/** config.json names a model_type we have no builder for. */
export class UnsupportedModelError extends SoftpromptError {
  constructor(readonly file: string, readonly modelType: string, readonly supported: readonly string[]) {
    super(`${file}: unsupported model_type "${modelType}"; supported: ${supported.join(', ')}`);
  }
}

/** A config field is missing or has the wrong type/value. */
export class ConfigError extends SoftpromptError {
  constructor(readonly file: string, readonly field: string, detail: string) {
    super(`${file}: field "${field}" ${detail}`);
  }
}

/** Graph construction error: names the op and the shapes involved. */
export class GraphError extends SoftpromptError {}

/**
 * An adapter that cannot be used with this model or by softprompt: a PEFT type or task we do
 * not run, a size that disagrees with the model, a different base model. The message names the
 * adapter file and the field, and says what the model has instead.
 */
export class AdapterError extends SoftpromptError {
  constructor(readonly file: string, readonly field: string | undefined, readonly detail: string) {
    super(field === undefined ? `${file}: ${detail}` : `${file}: field "${field}" ${detail}`);
  }
}
