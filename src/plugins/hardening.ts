import { useDisableIntrospection } from '@envelop/disable-introspection';
import type { CORSOptions, Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import { ADMIN_KEY_HEADER, API_KEY_HEADER } from './auth.js';
import { useErrorCodes, useHttpBatchLimit, useJsonOnlyOperations, useNoSuggestions, useQueryLimits } from './limits.js';

/**
 * Yoga's `cors` option from CORS_ORIGINS: a listed origin gets itself back (with `Vary: Origin`); any other origin,
 * and every origin when none is listed, gets no CORS headers at all. Never `null`: that is the origin of sandboxed
 * iframes and `data:` pages, so answering it would let any page that sandboxes itself read the response. No
 * credentials: the service uses no cookies.
 */
export function corsOptions(origins: readonly string[]): false | ((request: Request) => CORSOptions) {
  if (origins.length === 0) return false;
  const allowed = new Set(origins);
  return (request) => {
    const origin = request.headers.get('origin');
    if (origin === null || !allowed.has(origin)) return false;
    return {
      // two entries, so the library answers the request's own origin and adds Vary: Origin
      origin: [origin, origin],
      methods: ['POST', 'GET', 'OPTIONS'],
      allowedHeaders: ['content-type', 'accept', API_KEY_HEADER, ADMIN_KEY_HEADER, 'x-request-id'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      credentials: false,
      maxAge: 600,
    };
  };
}

/** Request limits, CSRF rule, deadline, error codes and (optionally) no introspection, in order. */
export function useProductionPlugins(config: Config, deadline: Plugin): Plugin[] {
  return [
    useJsonOnlyOperations(),
    useHttpBatchLimit(config.http.httpBatchLimit),
    useQueryLimits(config.query, config.http.introspection),
    ...(config.http.introspection ? [] : [useDisableIntrospection() as Plugin, useNoSuggestions()]),
    deadline,
    useErrorCodes(),
  ];
}
