import { createYoga, type YogaServerOptions } from 'graphql-yoga';
import type { Config } from './config.js';
import type { Context } from './context.js';
import type { Logger } from './logger.js';
import { corsOptions } from './plugins/hardening.js';
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

export interface YogaParts {
  config: Config;
  logger: Logger;
  /** the context of one operation */
  context: (request: Request) => Context;
  /** whether to render GraphiQL for this request (keys may be required for the page) */
  graphiqlFor: (request: Request) => boolean;
  plugins: NonNullable<YogaServerOptions<Record<string, unknown>, Context>['plugins']>;
}

/** The Yoga instance: the schema, served at /graphql, with the plugins and context the composition root gives it. */
export function createYogaServer({ config, logger, context, graphiqlFor, plugins }: YogaParts) {
  return createYoga({
    schema,
    context: ({ request }): Context => context(request),
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
          graphiqlFor(request)
            ? { title: 'Loan decisioning API', defaultTabs: [{ query: EXAMPLE_MUTATION }, { query: EXAMPLE_QUERY }] }
            : false
      : false,
    plugins,
  });
}
