import { getIntrospectionQuery } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { applications, goodApplication } from './helpers/applications.js';
import { GRAPHQL_RESPONSE, holdModelRuns, post, SCORE_MANY, SCORE_ONE, startTestAppsClosedAfterAll, type TestApp } from './helpers/app.js';

const app = startTestAppsClosedAfterAll();

const ACCEPTS = [GRAPHQL_RESPONSE, 'application/json'];

describe('graphql-armor limits: HTTP 400, code QUERY_TOO_COMPLEX, whatever the client accepts', () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await app({ QUERY_MAX_DEPTH: '2', QUERY_MAX_ALIASES: '2', QUERY_MAX_TOKENS: '60', QUERY_MAX_COST: '40', QUERY_MAX_DIRECTIVES: '1' });
  });

  const cases: [string, string, string][] = [
    ['depth', 'depth', '{ modelInfo { runtime { onnxruntimeVersion } } }'],
    ['aliases', 'aliases', '{ a: modelInfo { name } b: modelInfo { name } c: modelInfo { name } }'],
    ['tokens', 'tokens', `{ modelInfo { ${'name '.repeat(60)} } }`],
    ['directives', 'directives', '{ modelInfo { name @include(if: true) version @skip(if: false) } }'],
  ];
  for (const [name, limit, query] of cases) {
    for (const accept of ACCEPTS) {
      it(`refuses an operation over the ${name} limit (accept ${accept})`, async () => {
        const { status, json } = await post(strict, { query }, { accept });
        expect(status).toBe(400);
        expect(json.data).toBeUndefined();
        const refusal = json.errors.find((e: { extensions: { code: string } }) => e.extensions.code === 'QUERY_TOO_COMPLEX');
        expect(refusal, JSON.stringify(json)).toBeDefined();
        expect(refusal.extensions.limit).toBe(limit);
        expect(refusal.extensions.http).toBeUndefined();
      });
    }
  }

  for (const accept of ACCEPTS) {
    it(`refuses an operation over the cost limit (accept ${accept})`, async () => {
      const costly = await app({ QUERY_MAX_COST: '20' });
      const query = '{ modelInfo { name version sha256 createdAt thresholds { approve decline } metrics { auc ks brier } } }';
      const { status, json } = await post(costly, { query }, { accept });
      expect(status).toBe(400);
      expect(json.errors[0].extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'cost' });
      expect((await post(costly, { query: '{ modelInfo { name } }' }, { accept })).status).toBe(200);
    });
  }

  it('refuses a cached over-limit document the same way every time', async () => {
    const query = `{ modelInfo { ${'version '.repeat(70)} } }`;
    for (const accept of [...ACCEPTS, ...ACCEPTS]) {
      const { status, json } = await post(strict, { query }, { accept });
      expect(status).toBe(400);
      expect(json.errors[0].extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit: 'tokens' });
    }
  });

  it('lets the same kind of operation through under the limits', async () => {
    const { status, json } = await post(strict, { query: '{ modelInfo { name } }' });
    expect(status).toBe(200);
    expect(json.data.modelInfo.name).toBe('loan-default-lr');
  });
});

describe('the default limits fit the schema', () => {
  let defaults: TestApp;
  beforeAll(async () => {
    defaults = await app();
  });

  it.each([
    ['a decision with every field', SCORE_ONE, { input: goodApplication }],
    ['a bulk decision with every field', SCORE_MANY, { inputs: applications(3) }],
    [
      'the full modelInfo',
      `{ modelInfo { name version sha256 createdAt trainingData { synthetic description } features { name description reference }
        thresholds { approve decline } metrics { auc ks brier oracleAuc trainingRows testRows }
        runtime { onnxruntimeVersion intraOpNumThreads } batching { maxBatchSize windowMs } } }`,
      {},
    ],
    ['GraphiQL’s introspection query', getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true }), {}],
  ])('accepts %s', async (_, query, variables) => {
    const { status, json } = await post(defaults, { query, variables });
    expect(status, JSON.stringify(json.errors)).toBe(200);
    expect(json.errors).toBeUndefined();
  });

  it('refuses more than 5 aliases and an introspection fan-out', async () => {
    const aliases = await post(defaults, { query: `{ ${Array.from({ length: 6 }, (_, i) => `a${i}: modelInfo { name }`).join(' ')} }` });
    expect(aliases.status).toBe(400);
    expect(aliases.json.errors[0].extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'aliases' });
    const fanOut = await post(defaults, { query: '{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }' });
    expect(fanOut.status).toBe(400);
  });
});

describe('the body limit', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await app({ MAX_BODY_BYTES: '4096' });
  });
  const body = (size: number) =>
    new TextEncoder().encode(JSON.stringify({ query: '{ __typename }', extensions: { padding: 'x'.repeat(size) } }));
  const chunked = (bytes: Uint8Array) =>
    small.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);

  it('refuses a declared content-length over it before reading (413 PAYLOAD_TOO_LARGE)', async () => {
    const response = await small.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: body(5000),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBeNull();
    expect((await response.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    // a declared body far over the limit is not worth draining: the connection is closed
    const huge = await small.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(100 * 4096) },
      body: '{}',
    });
    expect(huge.status).toBe(413);
    expect(huge.headers.get('connection')).toBe('close');
  });

  it('refuses a chunked body (no content-length) once it passes the limit', async () => {
    const response = await chunked(body(5000));
    expect(response.status).toBe(413);
    expect((await response.json()).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('reads a chunked body under the limit as usual', async () => {
    const response = await chunked(body(2000));
    expect(response.status).toBe(200);
    expect((await response.json()).data).toEqual({ __typename: 'Query' });
  });
});

describe('batch limits', () => {
  let limited: TestApp;
  beforeAll(async () => {
    limited = await app({ HTTP_BATCH_LIMIT: '3', BULK_MAX_ITEMS: '5' });
  });

  it('refuses an HTTP batch over HTTP_BATCH_LIMIT with 413 BATCH_TOO_LARGE and runs one at the limit', async () => {
    const over = await post(limited, Array.from({ length: 4 }, () => ({ query: '{ __typename }' })));
    expect(over.status).toBe(413);
    expect(over.json.errors[0].extensions).toMatchObject({ code: 'BATCH_TOO_LARGE', maxOperations: 3 });
    const at = await post(limited, Array.from({ length: 3 }, () => ({ query: '{ __typename }' })));
    expect(at.status).toBe(200);
    expect(at.json).toHaveLength(3);
  });

  it('refuses a scoreApplications over BULK_MAX_ITEMS with BATCH_TOO_LARGE', async () => {
    const { json } = await post(limited, { query: SCORE_MANY, variables: { inputs: applications(6) } });
    expect(json.errors[0].extensions).toMatchObject({ code: 'BATCH_TOO_LARGE', maxItems: 5 });
  });
});

describe('the bounded scoring queue', () => {
  it('answers SERVICE_OVERLOADED (503, retry-after) at once when BATCH_MAX_PENDING applications are waiting', async () => {
    const busy = await app({ BULK_MAX_ITEMS: '100', BATCH_MAX_PENDING: '100' });
    // the first request's 100 applications stay in their model run until released: the queue is full meanwhile
    const held = holdModelRuns(busy);
    let firstDone = false;
    const first = post(busy, { query: SCORE_MANY, variables: { inputs: applications(100) } }).then((r) => {
      firstDone = true;
      return r;
    });
    try {
      await expect.poll(() => busy.batcher.pending()).toBe(100);
      const refused = await post(busy, { query: SCORE_ONE, variables: { input: goodApplication } });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.json.errors[0].extensions.code).toBe('SERVICE_OVERLOADED');
      expect(refused.json.errors[0].message).toMatch(/queue is full/);
      // refused without waiting for the queued applications' run: it is still held, their request unanswered
      expect(firstDone).toBe(false);
      expect(busy.batcher.pending()).toBe(100);
    } finally {
      held.release();
    }
    expect((await first).status).toBe(200);
    // and served again once the queue drained
    expect((await post(busy, { query: SCORE_ONE, variables: { input: goodApplication } })).status).toBe(200);
    expect(busy.batcher.pending()).toBe(0);
  });
});

describe('the per-request deadline', () => {
  it('answers REQUEST_TIMEOUT (504) when an operation outlives REQUEST_TIMEOUT_MS', async () => {
    const slow = await app({ REQUEST_TIMEOUT_MS: '100' });
    // the application's model run is held until the end of the test: only the deadline can end the request
    const held = holdModelRuns(slow);
    try {
      const started = performance.now();
      const { status, json } = await post(slow, { query: SCORE_ONE, variables: { input: goodApplication } });
      const took = performance.now() - started;
      expect(status).toBe(504);
      expect(json.errors[0].extensions).toMatchObject({ code: 'REQUEST_TIMEOUT', timeoutMs: 100 });
      // not before the deadline (a bound no machine's speed can break); and not after the run, which is still held
      expect(took).toBeGreaterThanOrEqual(95);
      // fast operations are unaffected
      expect((await post(slow, { query: '{ modelInfo { version } }' })).status).toBe(200);
    } finally {
      held.release();
    }
  });
});
