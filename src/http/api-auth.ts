import type { RequestHandler } from 'express';
import { UnauthorizedError } from '../errors.js';
import type { ApiTokenStore } from '../stores/api-tokens.js';

/** `Authorization: Bearer <token>` against the hashed token store; 401 otherwise. */
export function requireApiToken(tokens: ApiTokenStore): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)$/i.exec(req.get('authorization') ?? '');
    const token = match ? await tokens.verify(match[1]!) : null;
    if (!token) {
      res.set('WWW-Authenticate', 'Bearer realm="postmaster-portal"');
      return next(new UnauthorizedError());
    }
    res.locals.apiClient = token.name;
    next();
  };
}
