import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { jsonErrorResponse } from './errors.js';
import { noteErrorCode } from './request-log.js';

/** What the serving gate and the replica header read of the app's state. */
export interface ServingState {
  model: unknown;
  /** shutting down: not ready any more, but still serving what reaches it */
  draining: boolean;
  /** the listener is closed: GraphQL requests on kept-alive connections get 503 so a proxy retries elsewhere */
  refusing: boolean;
}

/** Refuses GraphQL work until the model is warm, and during shutdown, so a proxy can retry elsewhere. */
export function useServingGate(state: ServingState): Plugin {
  return {
    onRequest({ request, url, endResponse }) {
      if (url.pathname !== '/graphql') return;
      if (state.refusing || !state.model) noteErrorCode(request, 'SERVICE_UNAVAILABLE');
      if (state.refusing) {
        endResponse(jsonErrorResponse(503, 'SERVICE_UNAVAILABLE', 'This replica is shutting down; retry', { connection: 'close' }));
      } else if (!state.model) {
        endResponse(jsonErrorResponse(503, 'SERVICE_UNAVAILABLE', 'The model is still loading; retry shortly'));
      }
    },
  };
}

/**
 * graphql-jit coerces variables itself and returns its failures as an execution result (HTTP 200). They are request
 * errors (no data at all), which the GraphQL-over-HTTP spec answers with 400, as Yoga does without the JIT.
 */
export function useRequestErrorStatus(): Plugin {
  return {
    onExecute() {
      return {
        onExecuteDone({ result, setResult }) {
          if (isAsyncIterable(result) || result.data !== undefined || !result.errors?.length) return;
          setResult({
            ...result,
            errors: result.errors.map((e) =>
              e.extensions?.code !== undefined
                ? e
                : new GraphQLError(e.message, {
                    nodes: e.nodes,
                    extensions: { ...e.extensions, code: 'BAD_USER_INPUT', http: { status: 400 } },
                  }),
            ),
          });
        },
      };
    },
  };
}

export function useReplicaHeader(replicaId: string, state: ServingState): Plugin {
  return {
    onResponse({ response }) {
      response.headers.set('x-replica-id', replicaId);
      // While draining, every finished exchange closes its keep-alive connection so the server can exit.
      if (state.draining) response.headers.set('connection', 'close');
    },
  };
}
