import { randomUUID } from 'node:crypto';
import { Kind, type DocumentNode, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Logger } from '../logger.js';

/** What the service remembers about one HTTP request while it is served. Never applicant data. */
export interface RequestRecord {
  /** nginx's `x-request-id` when it is a sane token, else a fresh UUID; echoed as `x-request-id` */
  id: string;
  /** performance.now() when the request arrived; the per-request deadline counts from here */
  startedAt: number;
  /**
   * one per operation of an HTTP batch, in order: its name once the parsed document shows an operation of that name,
   * "anonymous" when none was sent, else "invalid" (never the client's text)
   */
  operations: string[];
  /** `extensions.code` of every error answered (request errors and field errors) */
  codes: string[];
  /** the authenticated partner key id, if any */
  keyId: string | undefined;
}

const records = new WeakMap<Request, RequestRecord>();

/** A request id we are willing to echo and log: printable, no spaces, at most 128 characters. */
const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * An operation name we are willing to log: a GraphQL Name of at most 64 characters. Anything longer or stranger is
 * client-chosen text (a 200 KB name, an applicant's SSN) that must not reach the log.
 */
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

/** Where a well-formed but not yet confirmed operation name goes once its document is parsed; keyed by the params. */
interface PendingName {
  operations: string[];
  index: number;
  name: string;
}
const pendingNames = new WeakMap<object, PendingName>();

function namesOperation(document: DocumentNode, name: string): boolean {
  return document.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.name?.value === name);
}

/** The record of a request seen by `useRequestLog` (undefined for a request it never saw). */
export function requestRecord(request: Request): RequestRecord | undefined {
  return records.get(request);
}

/** Notes an error code answered by a hook that ends the request itself (`endResponse`). */
export function noteErrorCode(request: Request, code: string): void {
  records.get(request)?.codes.push(code);
}

function codesOf(result: unknown): string[] {
  const results = Array.isArray(result) ? result : [result];
  const codes: string[] = [];
  for (const r of results) {
    const errors = (r as { errors?: readonly GraphQLError[] } | undefined)?.errors;
    if (!Array.isArray(errors)) continue;
    for (const e of errors) codes.push(String(e.extensions?.code ?? 'UNKNOWN'));
  }
  return codes;
}

/** Paths answered often and uninterestingly (probes, scrapes): logged at debug, not info. */
const QUIET_PATHS = new Set(['/health', '/ready', '/metrics']);

export interface RequestLogOptions {
  /** called once per request as its response leaves (metrics) */
  onFinished?: (record: RequestRecord, request: Request, status: number) => void;
}

/**
 * Gives every request an id (nginx's `x-request-id`, or a fresh one), echoes it in the response, and writes ONE
 * structured log line per request: id, method, path (never the query string: a GET can carry variables), status,
 * duration, operation names, error codes and the partner key id. Variables, bodies and error messages, which can
 * hold applicant data, are never logged; an operation name is logged only once it names an operation of the parsed
 * document (a sane name the client did not use is still client text).
 */
export function useRequestLog(logger: Logger, options: RequestLogOptions = {}): Plugin {
  return {
    onRequest({ request }) {
      const offered = request.headers.get('x-request-id');
      records.set(request, {
        id: offered && REQUEST_ID.test(offered) ? offered : randomUUID(),
        startedAt: performance.now(),
        operations: [],
        codes: [],
        keyId: undefined,
      });
    },
    onParams({ request, params }) {
      const record = records.get(request);
      if (!record) return;
      const name: unknown = params.operationName;
      if (name === undefined || name === null) {
        record.operations.push('anonymous');
        return;
      }
      // "invalid" until the parsed document confirms the name; a request refused before parsing keeps it
      const index = record.operations.push('invalid') - 1;
      if (typeof name === 'string' && OPERATION_NAME.test(name)) pendingNames.set(params, { operations: record.operations, index, name });
    },
    // The after-hook runs on every parse, Yoga's parse cache hits included; Yoga puts each operation's params (the
    // object onParams saw) in its context, which is how an operation of an HTTP batch finds its own entry.
    onParse() {
      return ({ context, result }) => {
        const params = (context as { params?: object }).params;
        const pending = params === undefined ? undefined : pendingNames.get(params);
        if (pending === undefined) return;
        pendingNames.delete(params!);
        if (result && !(result instanceof Error) && namesOperation(result, pending.name)) pending.operations[pending.index] = pending.name;
      };
    },
    onResultProcess({ request, result }) {
      records.get(request)?.codes.push(...codesOf(result));
    },
    onResponse({ request, response }) {
      const record = records.get(request);
      if (!record) return;
      response.headers.set('x-request-id', record.id);
      const url = new URL(request.url);
      const line = {
        reqId: record.id,
        method: request.method,
        path: url.pathname,
        status: response.status,
        ms: Math.round((performance.now() - record.startedAt) * 100) / 100,
        ...(record.operations.length > 0 ? { operations: record.operations } : {}),
        ...(record.codes.length > 0 ? { errors: [...new Set(record.codes)] } : {}),
        ...(record.keyId ? { keyId: record.keyId } : {}),
      };
      if (QUIET_PATHS.has(url.pathname)) logger.debug(line, 'request');
      else logger.info(line, 'request');
      options.onFinished?.(record, request, response.status);
    },
  };
}
