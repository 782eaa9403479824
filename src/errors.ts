/**
 * The small set of errors the portal answers with. Each has a stable code and an HTTP status;
 * the one error handler (src/http/errors.ts) turns them into a page or {error, code, details}.
 */
export type FieldErrors = Record<string, string>;

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
  }
}

export class ValidationError extends AppError {
  constructor(message: string, readonly fields: FieldErrors = {}) {
    super(400, 'VALIDATION_FAILED', message, { fields });
  }
}
export class NotFoundError extends AppError {
  constructor(message = 'There is nothing at this address.') {
    super(404, 'NOT_FOUND', message);
  }
}
export class GoneError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(410, code, message, details);
  }
}
export class UnauthorizedError extends AppError {
  constructor(message = 'A valid API token is required (Authorization: Bearer <token>).') {
    super(401, 'UNAUTHORIZED', message);
  }
}
export class ForbiddenError extends AppError {
  constructor(code: string, message: string) {
    super(403, code, message);
  }
}
export class ConflictError extends AppError {
  constructor(code: string, message: string, details?: unknown) {
    super(409, code, message, details);
  }
}
export class PayloadTooLargeError extends AppError {
  constructor(message = 'What you sent is larger than we accept.') {
    super(413, 'PAYLOAD_TOO_LARGE', message);
  }
}
export class RateLimitedError extends AppError {
  constructor(
    readonly retryAfterSeconds: number,
    message = `Too many requests. Please wait ${retryAfterSeconds} seconds and try again.`,
  ) {
    super(429, 'RATE_LIMITED', message, { retryAfterSeconds });
  }
}
export class UnavailableError extends AppError {
  constructor(message = 'The service is briefly unavailable. Please try again in a minute.') {
    super(503, 'UNAVAILABLE', message);
  }
}
