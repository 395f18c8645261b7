import type { ErrorCode } from '../http/error-catalog.js';

export interface ErrorSpec {
  readonly status: number;
  readonly message: string;
}

/** Every module declares its codes in a table of this shape; http/error-catalog.ts joins them. */
export type ErrorTable = Readonly<Record<string, ErrorSpec>>;

/**
 * A fault or a refusal that ends the request with the catalog's status for `code`.
 * Expected denials inside the decision path are values, not AppErrors.
 */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details?: Record<string, unknown>,
    options?: ErrorOptions,
  ) {
    super(message ?? code, options);
    this.name = 'AppError';
  }
}

/**
 * A command cannot start for a reason outside it (the data directory in use, the port
 * taken): the CLI prints the message alone, no stack trace, and exits 1.
 */
export class StartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartError';
  }
}
