import { describe, expect, it, onTestFinished } from 'vitest';
import { ConfigError, parseConfig } from '../src/config.js';
import { KeyVerifier, sha256Hex } from '../src/plugins/auth.js';
import { goodApplication } from './helpers/applications.js';
import { post, SCORE_ONE, startTestAppsClosedAfterAll, type TestApp } from './helpers/app.js';
import { ADMIN_KEY, KEY_ENV, OTHER_KEY, PARTNER_KEY, sha256, startLoggedApp } from './helpers/ops.js';

const app = startTestAppsClosedAfterAll();

const score = (a: TestApp, headers: Record<string, string> = {}) => post(a, { query: SCORE_ONE, variables: { input: goodApplication } }, headers);

describe('API_KEYS and ADMIN_KEY_SHA256 configuration', () => {
  it('parses id:sha256 pairs (any case) and keeps hashes only', () => {
    const config = parseConfig({ API_KEYS: ` acme:${sha256('a').toUpperCase()} , globex:${sha256('b')}`, ADMIN_KEY_SHA256: sha256('x').toUpperCase() });
    expect(config.auth.apiKeys).toEqual([
      { id: 'acme', sha256: sha256('a') },
      { id: 'globex', sha256: sha256('b') },
    ]);
    expect(config.auth.adminKeySha256).toBe(sha256('x'));
    expect(sha256Hex('a')).toBe(sha256('a'));
  });

  it.each([
    ['a key given in clear', 'acme:secret'],
    ['a missing id', `:${sha256('a')}`],
    ['a repeated id', `acme:${sha256('a')},acme:${sha256('b')}`],
    ['an extra field', `acme:${sha256('a')}:x`],
  ])('refuses %s', (_, API_KEYS) => {
    expect(() => parseConfig({ API_KEYS })).toThrow(ConfigError);
  });

  it('refuses an admin hash that is not 64 hex digits, and a bad CORS origin', () => {
    expect(() => parseConfig({ ADMIN_KEY_SHA256: 'admin' })).toThrow(/ADMIN_KEY_SHA256/);
    expect(() => parseConfig({ CORS_ORIGINS: 'https://a.example/path' })).toThrow(/CORS_ORIGINS/);
    expect(() => parseConfig({ CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
    expect(parseConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:5173' }).http.corsOrigins).toEqual([
      'https://a.example',
      'http://localhost:5173',
    ]);
  });

  it('refuses a queue smaller than one full bulk request', () => {
    expect(() => parseConfig({ BULK_MAX_ITEMS: '1000', BATCH_MAX_PENDING: '999' })).toThrow(/BATCH_MAX_PENDING/);
  });
});

describe('KeyVerifier', () => {
  const verifier = new KeyVerifier(parseConfig(KEY_ENV).auth);
  it('names the partner of a valid key and nobody for anything else', () => {
    expect(verifier.caller(PARTNER_KEY)).toEqual({ keyId: 'acme' });
    expect(verifier.caller(OTHER_KEY)).toEqual({ keyId: 'globex' });
    for (const wrong of [null, '', 'nope', PARTNER_KEY.slice(0, -1), `${PARTNER_KEY} `, sha256(PARTNER_KEY), 'x'.repeat(10_000)]) {
      expect(verifier.caller(wrong)).toBeNull();
    }
    expect(verifier.isAdmin(ADMIN_KEY)).toBe(true);
    expect(verifier.isAdmin(PARTNER_KEY)).toBe(false);
    expect(verifier.isAdmin(null)).toBe(false);
  });
});

describe('partner keys', () => {
  it('without keys configured, mutations need none', async () => {
    const open = await app();
    expect((await score(open)).status).toBe(200);
  });

  it('with keys configured, a mutation without a valid x-api-key fails UNAUTHENTICATED (401)', async () => {
    const keyed = await app(KEY_ENV);
    for (const headers of [{}, { 'x-api-key': 'wrong' }, { 'x-api-key': '' }, { 'x-admin-key': ADMIN_KEY }] as Record<string, string>[]) {
      const { status, json } = await score(keyed, headers);
      expect(status).toBe(401);
      expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
      expect(json.data).toBeUndefined();
    }
    const ok = await score(keyed, { 'x-api-key': PARTNER_KEY });
    expect(ok.status).toBe(200);
    expect(ok.json.data.scoreApplication.__typename).toBe('Decision');
    // every operation of an HTTP batch is checked
    const batch = await post(keyed, [{ query: '{ modelInfo { version } }' }, { query: SCORE_ONE, variables: { input: goodApplication } }]);
    expect(batch.json[0].data.modelInfo.version).toBe('1.0.0');
    expect(batch.json[1].errors[0].extensions.code).toBe('UNAUTHENTICATED');
  });

  it('hides a mutation behind a fragment no better', async () => {
    const keyed = await app(KEY_ENV);
    const query = `mutation($input: LoanApplicationInput!) { ...M } fragment M on Mutation { scoreApplication(input: $input) { __typename } }`;
    const { status } = await post(keyed, { query, variables: { input: goodApplication } });
    expect(status).toBe(401);
  });

  it('puts the key id in the context (caller) and the request log, never the key', async () => {
    const logged = await startLoggedApp({ ...KEY_ENV });
    onTestFinished(() => logged.close());
    const { status } = await score(logged as unknown as TestApp, { 'x-api-key': OTHER_KEY });
    expect(status).toBe(200);
    const line = logged.lines().find((l) => l.msg === 'request' && l.path === '/graphql');
    expect(line?.keyId).toBe('globex');
    expect(logged.raw.join('\n')).not.toContain(OTHER_KEY);
    const contextOf = async (headers: Record<string, string>) => {
      const request = new Request('http://yoga/graphql', { headers });
      return logged.yoga.getEnveloped({ request, params: { query: '{ __typename }' } }).contextFactory();
    };
    expect((await contextOf({ 'x-api-key': PARTNER_KEY })).caller).toEqual({ keyId: 'acme' });
    expect((await contextOf({ 'x-api-key': 'wrong' })).caller).toBeNull();
    expect((await contextOf({ 'x-admin-key': ADMIN_KEY })).isAdmin).toBe(true);
  });

  it('queries are free unless REQUIRE_KEY_FOR_QUERIES', async () => {
    const keyed = await app(KEY_ENV);
    expect((await post(keyed, { query: '{ modelInfo { version } }' })).status).toBe(200);
    const strict = await app({ ...KEY_ENV, REQUIRE_KEY_FOR_QUERIES: 'true' });
    const refused = await post(strict, { query: '{ modelInfo { version } }' });
    expect(refused.status).toBe(401);
    expect(refused.json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    expect((await post(strict, { query: '{ __schema { queryType { name } } }' })).status).toBe(401);
    expect((await post(strict, { query: '{ modelInfo { version } }' }, { 'x-api-key': PARTNER_KEY })).status).toBe(200);
  });

  it('GraphiQL is open unless REQUIRE_KEY_FOR_GRAPHIQL', async () => {
    const page = (a: TestApp, headers: Record<string, string> = {}) =>
      a.yoga.fetch('http://yoga/graphql', { headers: { accept: 'text/html', ...headers } });
    const keyed = await app(KEY_ENV);
    const open = await page(keyed);
    expect(open.status).toBe(200);
    expect(open.headers.get('content-type')).toContain('text/html');
    const strict = await app({ ...KEY_ENV, REQUIRE_KEY_FOR_GRAPHIQL: 'true' });
    const refused = await page(strict);
    expect(refused.status).toBe(401);
    expect((await refused.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    const allowed = await page(strict, { 'x-api-key': PARTNER_KEY });
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('content-type')).toContain('text/html');
  });
});

describe('the admin key (reloadModel)', () => {
  const RELOAD = 'mutation { reloadModel { version } }';
  it('is FORBIDDEN (403) when no admin key is configured', async () => {
    const noAdmin = await app({ API_KEYS: KEY_ENV.API_KEYS });
    const { status, json } = await post(noAdmin, { query: RELOAD }, { 'x-api-key': PARTNER_KEY, 'x-admin-key': ADMIN_KEY });
    expect(status).toBe(403);
    expect(json.errors[0].extensions.code).toBe('FORBIDDEN');
  });

  it('needs the admin key, not a partner key (401 UNAUTHENTICATED)', async () => {
    const admin = await app(KEY_ENV);
    for (const headers of [{}, { 'x-api-key': PARTNER_KEY }, { 'x-admin-key': PARTNER_KEY }, { 'x-api-key': ADMIN_KEY }] as Record<string, string>[]) {
      const { status, json } = await post(admin, { query: RELOAD }, headers);
      expect(status).toBe(401);
      expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    const ok = await post(admin, { query: RELOAD }, { 'x-admin-key': ADMIN_KEY });
    expect(ok.status).toBe(200);
    expect(ok.json.data.reloadModel.version).toBe('1.0.0');
  });
});

describe('CSRF: no simple cross-site request can run an operation', () => {
  let open: TestApp;
  const mutation = `mutation { scoreApplication(input: { annualIncome: 1, monthlyDebt: 0, loanAmount: 1, loanTermMonths: 12,
    loanPurpose: AUTO, creditScore: 700, employmentYears: 1, homeOwnership: RENT, openCreditLines: 1, delinquencies2y: 0,
    revolvingUtilization: 0 }) { __typename } }`;
  it.each([
    ['an HTML form (form-urlencoded)', 'application/x-www-form-urlencoded', `query=${encodeURIComponent(mutation)}`],
    ['text/plain', 'text/plain', JSON.stringify({ query: mutation })],
    ['text/plain;charset=UTF-8', 'text/plain;charset=UTF-8', JSON.stringify({ query: mutation })],
    ['no content-type', '', JSON.stringify({ query: mutation })],
  ])('refuses %s with 415 UNSUPPORTED_MEDIA_TYPE', async (_, type, body) => {
    open ??= await app();
    const headers = new Headers();
    if (type) headers.set('content-type', type);
    const response = await open.yoga.fetch('http://yoga/graphql', { method: 'POST', headers, body });
    expect(response.status).toBe(415);
    expect((await response.json()).errors[0].extensions.code).toBe('UNSUPPORTED_MEDIA_TYPE');
    expect(open.batcher.stats.applications).toBe(0);
  });

  it('refuses a multipart form with 415', async () => {
    open ??= await app();
    const form = new FormData();
    form.set('operations', JSON.stringify({ query: mutation }));
    form.set('map', '{}');
    const response = await open.yoga.fetch('http://yoga/graphql', { method: 'POST', body: form });
    expect(response.status).toBe(415);
    expect(open.batcher.stats.applications).toBe(0);
  });

  it('refuses a mutation over GET (405) but answers a query', async () => {
    open ??= await app();
    const get = (query: string) =>
      open.yoga.fetch(`http://yoga/graphql?query=${encodeURIComponent(query)}`, { headers: { accept: 'application/json' } });
    const refused = await get(mutation);
    expect(refused.status).toBe(405);
    expect(open.batcher.stats.applications).toBe(0);
    const query = await get('{ modelInfo { version } }');
    expect(query.status).toBe(200);
  });
});

describe('CORS_ORIGINS', () => {
  const preflight = (a: TestApp, origin: string) =>
    a.yoga.fetch('http://yoga/graphql', {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-api-key' },
    });

  it('allows the listed origins (with the key header), and no other', async () => {
    const cors = await app({ CORS_ORIGINS: 'https://app.example.com' });
    const allowed = await preflight(cors, 'https://app.example.com');
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('x-api-key');
    expect(allowed.headers.get('access-control-allow-credentials')).toBeNull();
    const other = await preflight(cors, 'https://evil.example');
    expect(other.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
    const response = await post(cors, { query: '{ __typename }' }, { origin: 'https://evil.example' });
    expect(response.headers.get('access-control-allow-origin')).not.toBe('https://evil.example');
  });

  it('sends no CORS headers at all when none are configured', async () => {
    const none = await app();
    const response = await preflight(none, 'https://evil.example');
    expect(response.headers.get('access-control-allow-origin')).toBeNull();
    const posted = await post(none, { query: '{ __typename }' }, { origin: 'https://evil.example' });
    expect(posted.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('INTROSPECTION=false', () => {
  it('refuses introspection and masks field suggestions, while operations still run', async () => {
    const closed = await app({ INTROSPECTION: 'false' });
    const introspection = await post(closed, { query: '{ __schema { types { name } } }' });
    expect(introspection.status).toBe(400);
    expect(introspection.json.errors[0].message).toMatch(/introspection/i);
    const typo = await post(closed, { query: '{ modelInf { version } }' });
    expect(typo.status).toBe(400);
    expect(typo.text).not.toContain('modelInfo');
    expect((await post(closed, { query: '{ modelInfo { version } }' })).status).toBe(200);
    const open = await app();
    expect((await post(open, { query: '{ __schema { types { name } } }' })).status).toBe(200);
    expect((await post(open, { query: '{ modelInf { version } }' })).text).toContain('modelInfo');
  });
});
