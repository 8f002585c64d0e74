import { useDisableIntrospection } from '@envelop/disable-introspection';
import type { Plugin } from 'graphql-yoga';
import type { Config } from '../config.js';
import { ADMIN_KEY_HEADER, API_KEY_HEADER } from './auth.js';
import { useHttpBatchLimit, useJsonOnlyOperations, useErrorCodes, useQueryLimits, useRequestDeadline } from './limits.js';

/**
 * Yoga's `cors` option from CORS_ORIGINS. No origins → `false`: no CORS headers at all, so browsers refuse
 * cross-origin reads (Yoga's default, and an empty list, would reflect ANY origin). Listed origins get their own
 * origin back; any other gets `Access-Control-Allow-Origin: null`. No credentials: the service uses no cookies.
 */
export function corsOptions(origins: readonly string[]) {
  if (origins.length === 0) return false as const;
  return {
    // two entries at least, so the library matches the request's origin rather than always sending the only one
    origin: origins.length === 1 ? [origins[0], origins[0]] : [...origins],
    methods: ['POST', 'GET', 'OPTIONS'],
    allowedHeaders: ['content-type', 'accept', API_KEY_HEADER, ADMIN_KEY_HEADER, 'x-request-id'],
    exposedHeaders: ['x-request-id', 'x-replica-id', 'retry-after'],
    credentials: false,
    maxAge: 600,
  };
}

/** Request limits, CSRF rule, deadline, error codes and (optionally) no introspection, in order. */
export function useProductionPlugins(config: Config): Plugin[] {
  return [
    useJsonOnlyOperations(),
    useHttpBatchLimit(config.http.httpBatchLimit),
    useQueryLimits(config.query, config.http.introspection),
    ...(config.http.introspection ? [] : [useDisableIntrospection() as Plugin]),
    useRequestDeadline(config.http.requestTimeoutMs),
    useErrorCodes(),
  ];
}
