import { useGraphQlJit } from '@envelop/graphql-jit';
import { GraphQLError } from 'graphql';
import { createYoga, isAsyncIterable, useReadinessCheck, type Plugin } from 'graphql-yoga';
import type { Config } from './config.js';
import type { Context, SharedContext } from './context.js';
import type { Logger } from './logger.js';
import { AuditStore } from './audit/audit-store.js';
import { API_KEY_HEADER, authenticate, KeyVerifier, useApiKeys } from './http/auth.js';
import { useApplicationBudget } from './http/budget.js';
import { createRequestDeadline } from './http/deadline.js';
import { corsOptions, useProductionPlugins } from './http/hardening.js';
import { jsonErrorResponse } from './http/errors.js';
import { useBodyLimit } from './http/limits.js';
import { noteErrorCode, requestRecord, useRequestLog } from './http/request-log.js';
import { createMetrics } from './metrics.js';
import { createScoringBatcher } from './model/batcher.js';
import { DecisionService } from './model/decision-service.js';
import { loadPolicy } from './model/policy.js';
import type { ScoringModel } from './model/scoring-model.js';
import { createModelReloader } from './model-reload.js';
import { schema } from './schema/index.js';

const EXAMPLE_MUTATION = /* GraphQL */ `# Decide one loan application. Press ▶ to run it.
mutation ScoreExample {
  scoreApplication(
    input: {
      applicationRef: "example-1"
      annualIncome: 65000
      monthlyDebt: 800
      loanAmount: 15000
      loanTermMonths: 36
      loanPurpose: DEBT_CONSOLIDATION
      creditScore: 690
      employmentYears: 4
      homeOwnership: RENT
      openCreditLines: 7
      delinquencies2y: 1
      revolvingUtilization: 0.55
    }
  ) {
    __typename
    ... on Decision {
      id
      outcome
      probabilityOfDefault
      score
      reasons { code description feature impact }
      modelVersion
      decidedAt
    }
    ... on InvalidApplication {
      message
      fieldErrors { field code message }
    }
  }
}
`;

const EXAMPLE_QUERY = /* GraphQL */ `# The model serving this replica.
query ModelInfo {
  modelInfo {
    name
    version
    sha256
    trainingData { synthetic description }
    thresholds { approve decline }
    metrics { auc ks brier oracleAuc trainingRows testRows }
    runtime { onnxruntimeVersion intraOpNumThreads }
    batching { maxBatchSize windowMs }
  }
}
`;

export interface AppState {
  model: ScoringModel | undefined;
  /** shutting down: not ready any more, but still serving what reaches it */
  draining: boolean;
  /** the listener is closed: GraphQL requests on kept-alive connections get 503 so a proxy retries elsewhere */
  refusing: boolean;
}

/** Refuses GraphQL work until the model is warm, and during shutdown, so a proxy can retry elsewhere. */
function useServingGate(state: AppState): Plugin {
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
function useRequestErrorStatus(): Plugin {
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

function useReplicaHeader(replicaId: string, state: AppState): Plugin {
  return {
    onResponse({ response }) {
      response.headers.set('x-replica-id', replicaId);
      // While draining, every finished exchange closes its keep-alive connection so the server can exit.
      if (state.draining) response.headers.set('connection', 'close');
    },
  };
}

export function createApp(config: Config, logger: Logger) {
  const state: AppState = { model: undefined, draining: false, refusing: false };
  const currentModel = () => {
    if (!state.model) throw new Error('model not loaded');
    return state.model;
  };
  const deadline = createRequestDeadline(config.http.requestTimeoutMs);
  const metrics = createMetrics({
    queueDepth: () => batcher.pending(),
    operationsRunning: () => deadline.running.count,
    auditWritable: () => audit?.writable,
  });
  const batcherOptions = { ...config.batching, maxPending: config.limits.batchMaxPending, onBatch: metrics.onBatch };
  const batcher = createScoringBatcher(currentModel, batcherOptions);
  const reloader = createModelReloader(state, config, logger, { onServing: metrics.modelServing, onReload: metrics.modelReload });
  const verifier = new KeyVerifier(config.auth);
  const { policy, reasonCodes } = loadPolicy(config.policy.file, config.policy.reasonCodesFile);
  const audit = config.audit.enabled
    ? new AuditStore(config.audit.file, config.audit.sync, {
        busyTimeoutMs: config.audit.busyTimeoutMs,
        onWriteFailure: metrics.auditWriteFailure,
        onAvailabilityChange: (unavailable) =>
          unavailable
            ? logger.error({ code: unavailable.code, detail: unavailable.message }, 'audit trail cannot be written: not ready')
            : logger.info('audit trail takes writes again: ready'),
      })
    : null;
  const decisionPolicy = { policy, reasonCodes, thresholds: config.model.thresholds };
  const decisions = new DecisionService(batcher.loader, audit, decisionPolicy);
  const context: SharedContext = {
    config,
    loader: batcher.loader,
    currentModel,
    decisions,
    reloadModel: (dir, requestId) => reloader.reload(dir, requestId),
    recordDecision: metrics.recordDecision,
  };
  // 'request' exists to measure what batching across requests buys (npm run bench); production uses 'process'.
  const contextFor =
    config.batching.scope === 'process'
      ? () => context
      : (): SharedContext => {
          const own = createScoringBatcher(currentModel, batcherOptions);
          return { ...context, loader: own.loader, decisions: new DecisionService(own.loader, audit, decisionPolicy) };
        };

  const yoga = createYoga({
    schema,
    // per request: the shared part, plus who is calling and the request id
    context: ({ request }): Context => {
      const auth = authenticate(verifier, request);
      return {
        ...contextFor(),
        ...auth,
        readScope: !verifier.enforcing || auth.isAdmin ? 'all' : auth.caller ? { keyId: auth.caller.keyId } : 'none',
        requestId: requestRecord(request)?.id ?? 'unknown',
        signal: deadline.signalOf(request),
      };
    },
    graphqlEndpoint: '/graphql',
    landingPage: false,
    logging: logger,
    batching: { limit: config.http.httpBatchLimit },
    cors: corsOptions(config.http.corsOrigins),
    // operations are JSON only (see useProductionPlugins): no multipart parser at all
    multipart: false,
    // GraphiQL's bundled assets hold ~80 MB once loaded: load them with the first page view, not with every replica.
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    graphiql: config.http.graphiql
      ? (request: Request) =>
          // with REQUIRE_KEY_FOR_GRAPHIQL the page is not rendered without a key, and useApiKeys answers 401
          verifier.enforcing && config.auth.requireKeyForGraphiql && authenticate(verifier, request).caller === null
            ? false
            : { title: 'Loan decisioning API', defaultTabs: [{ query: EXAMPLE_MUTATION }, { query: EXAMPLE_QUERY }] }
      : false,
    plugins: [
      useRequestLog(logger, { onFinished: metrics.requestFinished }),
      useReplicaHeader(config.http.replicaId, state),
      useBodyLimit(config.http.maxBodyBytes),
      ...metrics.plugins,
      // not ready while the audit trail cannot be written either, so a proxy or orchestrator sends traffic elsewhere;
      // the store's own probe writes (not traffic) make it ready again
      useReadinessCheck({
        endpoint: '/ready',
        check: () => state.model !== undefined && !state.draining && (audit?.writable ?? true),
      }),
      useServingGate(state),
      ...(config.http.graphqlJit ? [useGraphQlJit(), useRequestErrorStatus()] : []),
      useApiKeys(verifier, config.auth),
      useApplicationBudget({
        maxItems: config.limits.bulkMaxItems,
        maxTokens: config.query.maxTokens,
        ratePerSecond: config.limits.ratePerSecond,
        rateWindowSeconds: config.limits.rateWindowSeconds,
        partnerOf: (request) => verifier.caller(request.headers.get(API_KEY_HEADER))?.keyId ?? null,
      }),
      ...useProductionPlugins(config, deadline.plugin),
    ],
  });

  /** Loads the configured model (MODEL_DIR_FILE's directory, else MODEL_DIR); later calls hot-swap it. */
  function loadModel(): Promise<ScoringModel> {
    return reloader.reload();
  }

  async function close(): Promise<void> {
    await state.model?.release();
    await audit?.close();
  }

  return { yoga, state, batcher, audit, decisions, loadModel, reloadModel: reloader.reload, metrics, close };
}

export type App = ReturnType<typeof createApp>;
