/**
 * Errors the CLI shows a person: one line on stderr that says what to do, and an exit
 * code (1 for failures, 2 for usage). Light on purpose: kube-token loads it on every call.
 */
export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A usage mistake: wrong or missing flags. */
export const usageError = (message: string) => new CliError(message, 2);
