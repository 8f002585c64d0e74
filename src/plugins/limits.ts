import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import type { GraphQLArmorRejectCallback } from '@escape.tech/graphql-armor-types';
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { AuditUnavailableError } from '../decisions/audit/audit-store.js';
import type { Config } from '../config.js';
import { ServiceOverloadedError } from '../model/batcher.js';
import { RequestTimeoutError } from './deadline.js';
import { findCause, httpError, jsonErrorResponse } from './errors.js';
import { noteErrorCode } from './request-log.js';

/** The code of every operation refused by a graphql-armor limit; `extensions.limit` says which. */
export const QUERY_TOO_COMPLEX = 'QUERY_TOO_COMPLEX';

type ArmorLimit = 'depth' | 'aliases' | 'tokens' | 'cost' | 'directives';

/**
 * graphql-armor's limits, each rejection a GraphQL error with HTTP 400 and `extensions.code` QUERY_TOO_COMPLEX
 * (armor's defaults answer 200 with `data: null` under Yoga, or a bare GRAPHQL_PARSE_FAILED). Validation-time limits
 * report into the validation context (so every broken limit is listed); the token limit, checked while parsing, throws.
 * Field suggestions ("Did you mean …") are masked when introspection is off.
 */
export function useQueryLimits(query: Config['query'], introspection: boolean): Plugin {
  const reject =
    (limit: ArmorLimit): GraphQLArmorRejectCallback =>
    (context, error) => {
      const refusal = httpError(400, QUERY_TOO_COMPLEX, error.message.replace(/^Syntax Error: /, ''), { extensions: { limit } });
      if (context) context.reportError(refusal);
      else throw refusal;
    };
  const common = (limit: ArmorLimit) => ({ exposeLimits: true, propagateOnRejection: false, onReject: [reject(limit)] });
  const armor = EnvelopArmorPlugin({
    maxDepth: { n: query.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...common('depth') },
    maxAliases: { n: query.maxAliases, ...common('aliases') },
    maxTokens: { n: query.maxTokens, ...common('tokens') },
    costLimit: { maxCost: query.maxCost, ignoreIntrospection: true, flattenFragments: true, ...common('cost') },
    maxDirectives: { n: query.maxDirectives, ...common('directives') },
    blockFieldSuggestion: { enabled: !introspection },
  }) as Plugin;
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(armor);
    },
    // Yoga marks every parse error `http.spec: true` (so an `application/json` client would get 200): the token
    // limit is checked while parsing, so its refusal is put back to a plain 400 here, just before the response.
    onResultProcess({ result }) {
      for (const r of Array.isArray(result) ? result : [result]) {
        for (const error of (r as { errors?: readonly GraphQLError[] }).errors ?? []) {
          const http = error.extensions?.http as { spec?: boolean } | undefined;
          if (error.extensions?.code === QUERY_TOO_COMPLEX && http) http.spec = false;
        }
      }
    },
  };
}

const SUGGESTION = /\s*Did you mean [^]*$/;

/**
 * With introspection off, no error may teach the schema: "Did you mean …" goes from every message (graphql-armor's
 * blockFieldSuggestion covers validation only; an unknown enum value in the variables is reported at coercion).
 */
export function useNoSuggestions(): Plugin {
  return {
    onResultProcess({ result }) {
      for (const r of Array.isArray(result) ? result : [result]) {
        for (const error of (r as { errors?: readonly GraphQLError[] }).errors ?? []) {
          if (SUGGESTION.test(error.message)) error.message = error.message.replace(SUGGESTION, '');
        }
      }
    },
  };
}

/** Content types an operation may be POSTed as: all need a CORS preflight, so no HTML form can send them. */
const OPERATION_CONTENT_TYPES = ['application/json', 'application/graphql+json', 'application/graphql-response+json'];

/**
 * CSRF protection: a POSTed operation must be JSON. The "simple" content types a cross-site HTML form or a
 * no-preflight `fetch` can send (form-urlencoded, multipart, text/plain) are refused with 415 UNSUPPORTED_MEDIA_TYPE
 * before anything is parsed, and Yoga itself refuses a mutation over GET (405). A GET may still run a query.
 */
export function useJsonOnlyOperations(): Plugin {
  return {
    onRequestParse({ request }) {
      if (request.method !== 'POST') return;
      const type = (request.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
      if (!OPERATION_CONTENT_TYPES.includes(type)) {
        throw httpError(
          415,
          'UNSUPPORTED_MEDIA_TYPE',
          `Operations must be POSTed as application/json${type ? `, not ${type}` : ' (no content-type was sent)'}`,
          { headers: { accept: 'application/json' } },
        );
      }
    },
  };
}

function tooLarge(maxBytes: number, got?: number): GraphQLError {
  return httpError(
    413,
    'PAYLOAD_TOO_LARGE',
    got === undefined ? `The request body exceeds ${maxBytes} bytes` : `The request body is ${got} bytes; at most ${maxBytes} are accepted`,
    // the rest of an oversized upload is not worth reading: close the connection after answering
    { headers: { connection: 'close' } },
  );
}

/**
 * Refuses a request body over `maxBytes`: a declared `content-length` before anything is read, and a body without
 * one (chunked) by counting bytes as the parser reads them, stopping at the limit (413 PAYLOAD_TOO_LARGE either way).
 * A declared body up to 8× the limit is drained after the answer (so the client, still uploading, reads the 413);
 * a larger one, or a chunked one, gets `connection: close` instead of being read to its end.
 */
export function useBodyLimit(maxBytes: number): Plugin {
  return {
    onRequest({ request, endResponse }) {
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > maxBytes) {
        noteErrorCode(request, 'PAYLOAD_TOO_LARGE');
        const close: Record<string, string> = length > 8 * maxBytes ? { connection: 'close' } : {};
        endResponse(jsonErrorResponse(413, 'PAYLOAD_TOO_LARGE', tooLarge(maxBytes, length).message, close));
      }
    },
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (!requestParser || !request.body || request.headers.has('content-length')) return;
      setRequestParser(async (req) => {
        const reader = req.body!.getReader();
        const chunks: Uint8Array[] = [];
        let total = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.byteLength;
          if (total > maxBytes) {
            await reader.cancel().catch(() => undefined);
            throw tooLarge(maxBytes);
          }
          chunks.push(value);
        }
        const body = Buffer.concat(chunks, total);
        const headers = new Headers(req.headers);
        headers.set('content-length', String(total));
        return requestParser(new Request(req.url, { method: req.method, headers, body }));
      });
    },
  };
}

/**
 * Stable codes for execution errors:
 * - a resolver refused by its request's expired deadline (RequestTimeoutError) answers REQUEST_TIMEOUT (504);
 * - the model layer's typed ServiceOverloadedError becomes SERVICE_OVERLOADED (503, `retry-after: 1`) before Yoga's
 *   error masking would hide it as "Unexpected error." (and log every refusal of an overload as an error);
 * - the audit store's AuditUnavailableError (SQLite cannot write the file) becomes SERVICE_UNAVAILABLE (503,
 *   `retry-after`), the same way;
 * - a request error graphql-js raises without a code (variables that do not coerce: a string where a Float goes, an
 *   unknown enum value, a missing field; Yoga answers them 400) gets `extensions.code` BAD_USER_INPUT.
 */
export function useErrorCodes(): Plugin {
  // without originalError: a GraphQLError of our own, which Yoga's masking passes through as it is
  const withExtensions = (error: GraphQLError, extensions: Record<string, unknown>) =>
    new GraphQLError(error.message, {
      nodes: error.nodes,
      source: error.source,
      positions: error.positions,
      path: error.path,
      extensions: { ...error.extensions, ...extensions },
    });
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (!('errors' in result) || !result.errors?.length) return;
          const requestError = !('data' in result) || result.data === undefined;
          let changed = false;
          const errors = result.errors.map((error) => {
            const timeout = findCause(error, RequestTimeoutError);
            if (timeout) {
              changed = true;
              return withExtensions(error, {
                code: 'REQUEST_TIMEOUT',
                timeoutMs: timeout.timeoutMs,
                http: { status: 504, spec: false },
              });
            }
            const overload = findCause(error, ServiceOverloadedError);
            if (overload) {
              changed = true;
              return withExtensions(error, {
                code: 'SERVICE_OVERLOADED',
                maxPending: overload.maxPending,
                http: { status: 503, spec: false, headers: { 'retry-after': '1' } },
              });
            }
            // the audit trail cannot be written (full volume, read-only or locked file): retryable, not masked
            const unavailable = findCause(error, AuditUnavailableError);
            if (unavailable) {
              changed = true;
              return withExtensions(error, {
                code: 'SERVICE_UNAVAILABLE',
                http: { status: 503, spec: false, headers: { 'retry-after': String(unavailable.retryAfterSeconds) } },
              });
            }
            if (requestError && error.extensions?.code === undefined) {
              changed = true;
              return withExtensions(error, { code: 'BAD_USER_INPUT' });
            }
            return error;
          });
          if (changed) setResult({ ...result, errors });
        },
      };
    },
  };
}

/**
 * HTTP batching over `limit` operations: 413 with `extensions.code` BATCH_TOO_LARGE, the code `scoreApplications`
 * uses above its cap (Yoga's own check, which stays as a backstop, says only BAD_REQUEST).
 */
export function useHttpBatchLimit(limit: number): Plugin {
  return {
    onRequestParse() {
      return {
        onRequestParseDone({ requestParserResult }) {
          if (Array.isArray(requestParserResult) && requestParserResult.length > limit) {
            throw httpError(
              413,
              'BATCH_TOO_LARGE',
              `The batch has ${requestParserResult.length} operations; at most ${limit} are accepted in one request`,
              { extensions: { maxOperations: limit } },
            );
          }
        },
      };
    },
  };
}
