import type { ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { httpError } from './errors.js';
import { requestRecord } from './request-log.js';

/** The reason a request's signal aborts with when its deadline passes. */
export class RequestTimeoutError extends Error {
  override name = 'RequestTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`The request did not finish within ${timeoutMs} ms; retry later`);
  }
}

interface Deadline {
  controller: AbortController;
  timer: NodeJS.Timeout;
}

/** Operations executing now, those already answered 504 included (their resolvers may still be returning). */
export interface RunningOperations {
  count: number;
}

/**
 * One deadline per HTTP request, counted from its arrival: at `timeoutMs` its AbortSignal aborts with a
 * RequestTimeoutError and every operation still running is answered REQUEST_TIMEOUT (504). Resolvers get the signal
 * in their context (`signal`) and check it at batch boundaries: after it fires nothing new is validated, queued or
 * scored; applications already inside a model run finish (and are recorded). Returns the plugin and `signalOf`, the
 * context's source of the signal.
 */
export function createRequestDeadline(timeoutMs: number, running: RunningOperations = { count: 0 }) {
  const deadlines = new WeakMap<Request, Deadline>();

  function signalOf(request: Request): AbortSignal {
    let deadline = deadlines.get(request);
    if (!deadline) {
      const startedAt = requestRecord(request)?.startedAt ?? performance.now();
      const controller = new AbortController();
      const remaining = Math.max(0, startedAt + timeoutMs - performance.now());
      const timer = setTimeout(() => controller.abort(new RequestTimeoutError(timeoutMs)), remaining);
      deadline = { controller, timer };
      deadlines.set(request, deadline);
    }
    return deadline.controller.signal;
  }

  const plugin: Plugin = {
    onExecute({ args, executeFn, setExecuteFn }) {
      const request = (args.contextValue as { request?: Request }).request;
      if (!request) return;
      const signal = signalOf(request);
      setExecuteFn((executeArgs) => {
        if (signal.aborted) return { errors: [timeoutError(timeoutMs)] };
        const result = executeFn(executeArgs);
        if (!(result instanceof Promise)) return result;
        running.count++;
        const settled = result.finally(() => running.count--);
        let onAbort: (() => void) | undefined;
        const timedOut = new Promise<ExecutionResult>((resolve) => {
          onAbort = () => resolve({ errors: [timeoutError(timeoutMs)] });
          signal.addEventListener('abort', onAbort, { once: true });
        });
        return Promise.race([settled, timedOut]).finally(() => signal.removeEventListener('abort', onAbort!));
      });
    },
    onResponse({ request }) {
      const deadline = deadlines.get(request);
      if (deadline) clearTimeout(deadline.timer);
    },
  };

  return { plugin, signalOf, running };
}

function timeoutError(timeoutMs: number) {
  return httpError(504, 'REQUEST_TIMEOUT', new RequestTimeoutError(timeoutMs).message, { extensions: { timeoutMs } });
}
