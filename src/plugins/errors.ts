import { GraphQLError } from 'graphql';

/**
 * A GraphQL error answered with `status` whatever the client accepts (`spec: false` keeps Yoga from downgrading it
 * to 200 for `application/json` clients), with a stable `extensions.code`.
 */
export function httpError(
  status: number,
  code: string,
  message: string,
  extra: { headers?: Record<string, string>; extensions?: Record<string, unknown> } = {},
): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code, ...extra.extensions, http: { status, spec: false, ...(extra.headers ? { headers: extra.headers } : {}) } },
  });
}

/** A whole-request refusal as a GraphQL-shaped JSON response, for hooks that end the request before parsing. */
export function jsonErrorResponse(status: number, code: string, message: string, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ errors: [{ message, extensions: { code } }] }), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...headers },
  });
}

/** Walks `originalError` (GraphQL's wrapping) and `cause` (ours) to the first error of the given class. */
export function findCause<T extends Error>(error: unknown, type: abstract new (...args: never[]) => T): T | undefined {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current instanceof Error && !seen.has(current)) {
    if (current instanceof type) return current;
    seen.add(current);
    current = (current as { originalError?: unknown }).originalError ?? current.cause;
  }
  return undefined;
}
