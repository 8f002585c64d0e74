import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { parseConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { ScoringModel } from '../../src/model/scoring-model.js';
import { createApp } from '../../src/app.js';

/** A fresh app on the real model, with its own audit database in a temporary folder. */
export async function startTestApp(env: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'loan-api-test-'));
  // GRAPHQL_JIT=false npm test runs the whole API suite on plain graphql-js execution.
  const jit = process.env.GRAPHQL_JIT ? { GRAPHQL_JIT: process.env.GRAPHQL_JIT } : {};
  const config = parseConfig({ LOG_LEVEL: 'silent', DATA_DIR: dataDir, ...jit, ...env });
  const app = createApp(config, createLogger(config.logLevel));
  await app.start();
  return { ...app, config };
}

export type TestApp = Awaited<ReturnType<typeof startTestApp>>;

/** For a test file that starts several apps: returns startTestApp, and closes every app it started after the file. */
export function startTestAppsClosedAfterAll(): (env?: Record<string, string>) => Promise<TestApp> {
  const started: TestApp[] = [];
  afterAll(async () => {
    await Promise.all(started.map((a) => a.close()));
  });
  return async (env = {}) => {
    const app = await startTestApp(env);
    started.push(app);
    return app;
  };
}

export const GRAPHQL_RESPONSE = 'application/graphql-response+json';

/**
 * Holds every model run of `app` (the batches already started and those to come) until `release()`: a state in which
 * applications are queued or being scored for as long as the test needs, on any machine, instead of a window or a
 * sleep that a faster or slower machine would get through differently. `runs()` counts the runs held so far.
 */
export function holdModelRuns(app: { state: { model?: ScoringModel } }): { release(): void; runs(): number } {
  const model = app.state.model!;
  const score = model.score.bind(model);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let runs = 0;
  model.score = async (applications) => {
    runs++;
    await gate;
    return score(applications);
  };
  return {
    release() {
      open();
      // the class's own method again
      delete (model as { score?: unknown }).score;
    },
    runs: () => runs,
  };
}

export async function post(app: TestApp, body: unknown, headers: Record<string, string> = {}) {
  const response = await app.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: `${GRAPHQL_RESPONSE}, application/json`, ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

export const DECISION_SELECTION = /* GraphQL */ `
  id applicationRef outcome probabilityOfDefault score modelVersion decidedAt
  reasons { code description source feature impact ruleId }
  policyHits { ruleId effect description } policyVersion
`;

export const DECISION_FIELDS = /* GraphQL */ `
  __typename
  ... on Decision { ${DECISION_SELECTION} }
  ... on InvalidApplication { message fieldErrors { field code message } }
`;

export const SCORE_ONE = /* GraphQL */ `mutation($input: LoanApplicationInput!) {
  scoreApplication(input: $input) { ${DECISION_FIELDS} }
}`;

export const SCORE_MANY = /* GraphQL */ `mutation($inputs: [LoanApplicationInput!]!) {
  scoreApplications(inputs: $inputs) { ${DECISION_FIELDS} }
}`;

/** Five aliases and a plain scoreApplications sharing one list variable: six times its length in one operation. */
export const SIX_BULKS = /* GraphQL */ `mutation($inputs: [LoanApplicationInput!]!) {
  ${['a', 'b', 'c', 'd', 'e'].map((alias) => `${alias}: scoreApplications(inputs: $inputs) { __typename }`).join('\n  ')}
  scoreApplications(inputs: $inputs) { __typename }
}`;
