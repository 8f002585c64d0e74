/**
 * Partners are tenants (issue 10), against a real server process configured as in production: partner keys, an
 * admin key, a CORS allow-list, NODE_ENV=production, introspection off and a per-partner rate limit.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applications, goodApplication, riskyApplication } from './helpers/applications.js';
import { DECISION_SELECTION } from './helpers/app.js';
import { ADMIN_KEY, KEY_ENV, OTHER_KEY, PARTNER_KEY, sha256 } from './helpers/ops.js';
import { startServerProcess, type ServerProcess } from './helpers/process.js';

const THIRD_KEY = 'test-third-key-5e11a9';
const APP_ORIGIN = 'https://app.example.com';
const RATE = 100;
const WINDOW_SECONDS = 10;

let server: ServerProcess;
let auditFile: string;
beforeAll(async () => {
  auditFile = join(mkdtempSync(join(tmpdir(), 'loan-api-tenants-')), 'decisions.db');
  server = await startServerProcess({
    ...KEY_ENV,
    API_KEYS: `${KEY_ENV.API_KEYS},initech:${sha256(THIRD_KEY)}`,
    CORS_ORIGINS: `${APP_ORIGIN},https://portal.example.com`,
    NODE_ENV: 'production',
    INTROSPECTION: 'false',
    AUDIT_DB: auditFile,
    RATE_LIMIT_PER_SECOND: String(RATE),
    RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS),
  });
});
afterAll(async () => {
  if (server.child.exitCode === null) {
    server.child.kill('SIGTERM');
    await server.exited;
  }
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function gql(body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; json: any }> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
}

const as = (key: string) => ({ 'x-api-key': key });
const SCORE_KEYED = /* GraphQL */ `mutation($input: LoanApplicationInput!, $key: String) {
  scoreApplication(input: $input, idempotencyKey: $key) {
    __typename
    ... on Decision { ${DECISION_SELECTION} }
    ... on InvalidApplication { fieldErrors { field code message } }
  }
}`;
const SCORE_MANY_KEYED = /* GraphQL */ `mutation($inputs: [LoanApplicationInput!]!, $keys: [String]) {
  scoreApplications(inputs: $inputs, idempotencyKeys: $keys) {
    __typename
    ... on Decision { ${DECISION_SELECTION} }
    ... on InvalidApplication { fieldErrors { field code message } }
  }
}`;
const READ = /* GraphQL */ `query($id: ID!) { decision(id: $id) { ${DECISION_SELECTION} } }`;

async function score(key: string, input: object, idempotencyKey: string) {
  const { status, json } = await gql({ query: SCORE_KEYED, variables: { input, key: idempotencyKey } }, as(key));
  expect(status, JSON.stringify(json)).toBe(200);
  return json.data.scoreApplication;
}

const auditRows = () => {
  const db = new Database(auditFile, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe('idempotency keys belong to the partner that sent them', () => {
  it("gives another partner's same key and application a decision of its own, never the first partner's", async () => {
    const acme = await score(PARTNER_KEY, { ...goodApplication, applicationRef: 'acme-1001' }, 'order-1001');
    const globex = await score(OTHER_KEY, { ...goodApplication, applicationRef: 'acme-1001' }, 'order-1001');
    expect(acme.__typename).toBe('Decision');
    expect(globex.__typename).toBe('Decision');
    expect(globex.id).not.toBe(acme.id);
    // each partner's retry replays its own decision
    expect((await score(PARTNER_KEY, { ...goodApplication, applicationRef: 'acme-1001' }, 'order-1001')).id).toBe(acme.id);
    expect((await score(OTHER_KEY, { ...goodApplication, applicationRef: 'acme-1001' }, 'order-1001')).id).toBe(globex.id);
  });

  it("does not tell a partner that another partner's key exists", async () => {
    await score(PARTNER_KEY, goodApplication, 'order-2002');
    const other = await score(OTHER_KEY, riskyApplication, 'order-2002');
    expect(other.__typename).toBe('Decision');
    expect(other.applicationRef).toBe(riskyApplication.applicationRef);
  });

  it('lets no partner claim a key first and so refuse its rightful owner', async () => {
    const squatter = await score(OTHER_KEY, riskyApplication, 'order-3003');
    const owner = await score(PARTNER_KEY, goodApplication, 'order-3003');
    expect(owner.__typename).toBe('Decision');
    expect(owner.id).not.toBe(squatter.id);
    expect(owner.applicationRef).toBe(goodApplication.applicationRef);
  });

  it('scopes the keys of scoreApplications the same way', async () => {
    const inputs = applications(3);
    const keys = ['bulk-1', 'bulk-2', null];
    const acme = (await gql({ query: SCORE_MANY_KEYED, variables: { inputs, keys } }, as(PARTNER_KEY))).json.data.scoreApplications;
    const other = await gql({ query: SCORE_MANY_KEYED, variables: { inputs: applications(3).reverse(), keys } }, as(OTHER_KEY));
    expect(other.status).toBe(200);
    const globex = other.json.data.scoreApplications;
    expect(globex.map((d: { __typename: string }) => d.__typename)).toEqual(['Decision', 'Decision', 'Decision']);
    expect(globex.map((d: { id: string }) => d.id)).not.toContain(acme[0].id);
    expect(globex[0].applicationRef).toBe('app-2');
    const replay = (await gql({ query: SCORE_MANY_KEYED, variables: { inputs, keys } }, as(PARTNER_KEY))).json.data.scoreApplications;
    expect(replay.slice(0, 2).map((d: { id: string }) => d.id)).toEqual(acme.slice(0, 2).map((d: { id: string }) => d.id));
  });
});

describe('decision(id) answers only within the caller’s reach', () => {
  let made: { id: string };
  beforeAll(async () => {
    const { __typename, ...decision } = await score(PARTNER_KEY, goodApplication, 'read-1');
    expect(__typename).toBe('Decision');
    made = decision;
  });
  const read = (id: string, headers: Record<string, string>) => gql({ query: READ, variables: { id } }, headers);

  it('lets the partner that made it and the admin key read it', async () => {
    expect((await read(made.id, as(PARTNER_KEY))).json.data.decision).toEqual(made);
    expect((await read(made.id, { 'x-admin-key': ADMIN_KEY })).json.data.decision).toEqual(made);
  });

  it('answers another partner, a wrong key and no key exactly as an unknown id', async () => {
    const unknown = await read('00000000-0000-4000-8000-000000000000', as(OTHER_KEY));
    expect(unknown.json).toEqual({ data: { decision: null } });
    for (const headers of [as(OTHER_KEY), as('guess-1234'), {}]) {
      const answer = await read(made.id, headers);
      expect(answer.status).toBe(unknown.status);
      expect(answer.json).toEqual(unknown.json);
    }
  });
});

describe('one HTTP request, one bounded amount of work', () => {
  it('refuses a batch of operations over BULK_MAX_ITEMS in all before anything is decided', async () => {
    const rows = auditRows();
    const operation = { query: SCORE_MANY_KEYED, variables: { inputs: applications(400) } };
    const { status, json } = await gql([operation, operation, operation], as(PARTNER_KEY));
    expect(status).toBe(413);
    expect(json.errors[0].extensions).toMatchObject({ code: 'BATCH_TOO_LARGE', maxItems: 1000, requested: 1200 });
    expect(auditRows()).toBe(rows);
  });

  it(`limits each partner to ${RATE} applications a second (429 with retry-after), counted per key`, async () => {
    const burst = RATE * WINDOW_SECONDS;
    const bulk = (n: number) => ({ query: SCORE_MANY_KEYED, variables: { inputs: applications(n) } });
    const first = await gql(bulk(burst - 100), as(THIRD_KEY));
    expect(first.status).toBe(200);
    const rows = auditRows();
    const refused = await gql(bulk(200), as(THIRD_KEY));
    expect(refused.status).toBe(429);
    expect(refused.json.errors[0].extensions.code).toBe('RATE_LIMITED');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(auditRows()).toBe(rows);
    // another partner's budget is its own
    expect((await gql(bulk(200), as(OTHER_KEY))).status).toBe(200);
  });
});

describe('CORS', () => {
  const preflight = (origin: string) =>
    fetch(`${server.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
    });
  const query = (origin: string) =>
    fetch(`${server.url}/graphql`, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });

  it('answers a listed origin with itself', async () => {
    const answer = await preflight(APP_ORIGIN);
    expect(answer.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(answer.headers.get('vary')).toMatch(/origin/i);
    expect((await query(APP_ORIGIN)).headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
  });

  it.each(['https://evil.example', 'null'])('gives %s no CORS headers at all', async (origin) => {
    for (const answer of [await preflight(origin), await query(origin)]) {
      const cors = [...answer.headers.keys()].filter((h) => h.startsWith('access-control-'));
      expect(cors).toEqual([]);
    }
  });
});

describe('with introspection off', () => {
  it('suggests no enum value or field name', async () => {
    const badEnum = await gql({ query: SCORE_KEYED, variables: { input: { ...goodApplication, loanPurpose: 'AUTOS' } } }, as(PARTNER_KEY));
    const inline = `mutation { scoreApplication(input: { annualIncome: 50000, monthlyDebt: 500, loanAmount: 9000, loanTermMonths: 36,
      loanPurpose: AUTOS, creditScore: 700, employmentYears: 3, homeOwnership: RENT, openCreditLines: 4, delinquencies2y: 0,
      revolvingUtilization: 0.2 }) { __typename } }`;
    const badLiteral = await gql({ query: inline }, as(PARTNER_KEY));
    const badField = await gql({ query: '{ modelInf { name } }' });
    for (const answer of [badEnum, badLiteral, badField]) {
      expect(answer.status).toBe(400);
      expect(answer.json.errors.length).toBeGreaterThan(0);
      expect(JSON.stringify(answer.json)).not.toMatch(/did you mean|"AUTO"|modelInfo/i);
    }
  });
});
