/**
 * Static checks of the Docker deployment, for machines without a Docker engine (CI, this repository's dev box):
 *
 *   - docker-compose.yml is accepted by `docker-compose config` (Debian's docker-compose, Compose v1 1.29, which
 *     does not need a daemon for `config`), run against the file with `-f` from a scratch folder and a scratch
 *     environment, with and without LOAN_API_PORT; and it says what the deployment needs (3 replicas, volumes,
 *     healthcheck, nginx gated on service_healthy, an nginx image new enough for `resolve`).
 *   - docker-compose.postgres.yml on top of it: refused without POSTGRES_PASSWORD; a postgres service with a volume
 *     and a pg_isready health check, the replicas on AUDIT_DATABASE_URL, started once it is healthy, without ./data.
 *   - The podman render of the nginx template differs from nginx.conf only by Docker's DNS (`npm run image:test`
 *     runs it in podman containers; this file has no engine).
 *   - nginx.conf is exactly the docker render of deploy/nginx.conf.template (the two configs cannot drift).
 *   - `nginx -t` accepts the loopback render (what `npm run cluster` runs) as is.
 *   - `nginx -t` accepts the docker nginx.conf with only these lines swapped, because this machine is not the
 *     nginx container:
 *       `user nginx;`                    dropped: no such user outside the official image
 *       pid / error_log / access_log     moved to a scratch folder (the image's paths need root here)
 *       `server loan-api:8000 resolve …` the host becomes 127.0.0.1 (only Docker's DNS knows `loan-api`), and when
 *                                        the local nginx is older than 1.27.3 (Debian bookworm has 1.22) the
 *                                        `resolve` parameter is dropped too, since that nginx does not know it.
 *     So the test proves the syntax and every other directive; it does NOT prove that `resolve` and the
 *     `resolver 127.0.0.11` line work — that needs the pinned nginx image (≥ 1.27.3, checked below from its tag)
 *     on a Docker network, i.e. `docker compose up` on a machine with an engine (docs/deployment.md).
 *   - The Dockerfile has the shape the deployment relies on (no engine here to build it).
 *
 * A missing docker-compose or nginx fails these tests (with the apt-get line to run); nothing is skipped.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findNginx } from '../../scripts/cluster.js';
import { DOCKER_CONFIG_RELATIVE_PATH, renderNginxConfig, repoRoot } from '../../scripts/nginx-config.js';

const ROOT = repoRoot();
let scratch: string;

beforeAll(() => {
  scratch = mkdtempSync(path.join(tmpdir(), 'loan-docker-static-'));
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function findDockerCompose(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'docker-compose'))) return path.join(dir, 'docker-compose');
  }
  throw new Error('docker-compose not found on PATH: install docker-compose: apt-get install docker-compose');
}

/**
 * docker-compose config of these files (docker-compose.yml alone by default) in a scratch folder with a scratch
 * environment (no COMPOSE_*, LOAN_API_PORT or POSTGRES_PASSWORD leaking in).
 */
function composeConfig(extraEnv: Record<string, string> = {}, args: string[] = [], files = ['docker-compose.yml']) {
  const home = path.join(scratch, 'home');
  mkdirSync(home, { recursive: true });
  return spawnSync(findDockerCompose(), [...files.flatMap((f) => ['-f', path.join(ROOT, f)]), 'config', ...args], {
    cwd: scratch,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, ...extraEnv },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

function nginxVersion(bin: string): [number, number, number] {
  const out = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(`${out.stdout}${out.stderr}`);
  if (!m) throw new Error(`cannot read the nginx version from: ${out.stderr}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

const atLeast = (v: number[], min: number[]) => {
  for (let i = 0; i < min.length; i++) if ((v[i] ?? 0) !== min[i]) return (v[i] ?? 0) > min[i];
  return true;
};

/** nginx -t with prefix and error log in the scratch folder. */
function nginxTest(conf: string) {
  const bin = findNginx();
  const prefix = path.dirname(conf);
  const result = spawnSync(bin, ['-t', '-c', conf, '-p', prefix, '-e', path.join(prefix, 'error.log')], { encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** Replaces `from` (which must occur exactly once) with `to`. */
function swapOnce(text: string, from: string | RegExp, to: string): string {
  const matches = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from.source, 'gm')) ?? []).length;
  expect(matches, `expected exactly one ${String(from)} in nginx.conf`).toBe(1);
  return text.replace(from, to);
}

describe('docker-compose.yml', () => {
  it('is accepted by docker-compose config, from a scratch folder and environment', () => {
    const result = composeConfig();
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    const out = result.stdout;
    expect(out).toMatch(/replicas: 3/);
    expect(out).toMatch(/\/data:\/app\/data/);
    expect(out).toMatch(/\/models:\/app\/models/);
    expect(out).toMatch(/nginx\.conf:\/etc\/nginx\/nginx\.conf:ro/);
    expect(out).toMatch(/condition: service_healthy/);
    expect(out).toMatch(/published: 8000\s+target: 80/);
    expect(out).toMatch(/loan-net:\s+driver: bridge/);
    expect(out).toMatch(/healthcheck:[\s\S]*\/ready/);
    // metrics on their own port, not published; GraphiQL and introspection an explicit choice
    expect(out).toMatch(/METRICS_PORT: ["']9464["']/);
    expect(out).toMatch(/METRICS_HOST: 0\.0\.0\.0/);
    expect(out).not.toMatch(/published: 9464/);
    expect(out).toMatch(/GRAPHIQL: ["']true["']/);
    expect(out).toMatch(/INTROSPECTION: ["']true["']/);

    const services = composeConfig({}, ['--services']);
    expect(services.stdout.trim().split('\n').sort()).toEqual(['loan-api', 'nginx']);
  });

  it('publishes LOAN_API_PORT instead of 8000 when it is set', () => {
    const result = composeConfig({ LOAN_API_PORT: '8080' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/published: 8080\s+target: 80/);
  });

  it('mounts LOAN_API_NGINX_CONF instead of ./nginx.conf when it is set (the podman render)', () => {
    const result = composeConfig({ LOAN_API_NGINX_CONF: '/srv/nginx.podman.conf' });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/- \/srv\/nginx\.podman\.conf:\/etc\/nginx\/nginx\.conf:ro/);
  });

  it('pins an nginx image that supports `server … resolve` (≥ 1.27.3) and a non-latest tag', () => {
    const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
    const m = /image:\s*nginx:(\d+)\.(\d+)(?:\.(\d+))?[-\w.]*/.exec(compose);
    expect(m, 'nginx image with a numeric tag').not.toBeNull();
    const version = [Number(m![1]), Number(m![2]), Number(m![3] ?? 99)];
    expect(atLeast(version, [1, 27, 3]), `nginx:${m![0]} is older than 1.27.3`).toBe(true);
    expect(compose).not.toMatch(/image:\s*nginx:(latest|stable|mainline)\b/);
  });
});

describe('docker-compose.postgres.yml (on top of docker-compose.yml)', () => {
  const FILES = ['docker-compose.yml', 'docker-compose.postgres.yml'];
  /** the services of a `docker-compose config` output, each as its block of lines */
  const services = (out: string) => {
    const blocks: Record<string, string> = {};
    const body = /^services:\n([\s\S]*?)^\S/m.exec(out)?.[1] ?? '';
    for (const m of body.matchAll(/^ {2}(\S+):\n((?: {4}.*\n|\s*\n)*)/gm)) blocks[m[1]] = m[2];
    return blocks;
  };

  it('refuses to start without POSTGRES_PASSWORD, and says how to set one', () => {
    const result = composeConfig({}, [], FILES);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/set POSTGRES_PASSWORD/);
  });

  it('adds a postgres service with a volume and a pg_isready health check, and points the replicas at it', () => {
    const result = composeConfig({ POSTGRES_PASSWORD: 'from-the-environment' }, [], FILES);
    expect(result.status, `${result.stdout}${result.stderr}`).toBe(0);
    const out = result.stdout;
    const { postgres, 'loan-api': api, nginx } = services(out);
    expect(Object.keys(services(out)).sort()).toEqual(['loan-api', 'nginx', 'postgres']);

    expect(postgres).toMatch(/image: postgres:\d+[-\w.]*/);
    expect(postgres).toMatch(/- postgres-data:\/var\/lib\/postgresql\/data/);
    expect(out).toMatch(/^volumes:\n {2}postgres-data:/m);
    expect(postgres).toMatch(/healthcheck:[\s\S]*pg_isready/);
    expect(postgres).toMatch(/POSTGRES_PASSWORD: from-the-environment/);
    expect(postgres).toMatch(/loan-net/);
    expect(postgres).not.toMatch(/ports:/); // on loan-net only

    expect(api).toMatch(/AUDIT_DATABASE_URL: postgres:\/\/loan:from-the-environment@postgres:5432\/loan_audit/);
    expect(api).toMatch(/depends_on:\s+postgres:\s+condition: service_healthy/);
    // no ./data: the audit trail is in PostgreSQL
    expect(api).not.toMatch(/\/data:\/app\/data/);
    expect(api).toMatch(/target: \/app\/data\s+type: tmpfs/);
    // the rest is docker-compose.yml's
    expect(api).toMatch(/replicas: 3/);
    expect(api).toMatch(/\/models:\/app\/models/);
    expect(api).toMatch(/healthcheck:[\s\S]*\/ready/);
    expect(nginx).toMatch(/condition: service_healthy/);
    expect(nginx).toMatch(/published: 8000\s+target: 80/);
  });
});

describe('nginx configs (one template)', () => {
  it('nginx.conf is the docker render of deploy/nginx.conf.template', () => {
    const committed = readFileSync(path.join(ROOT, DOCKER_CONFIG_RELATIVE_PATH), 'utf8');
    expect(committed, 'nginx.conf drifted from the template: npx tsx scripts/nginx-config.ts docker --out nginx.conf').toBe(
      renderNginxConfig({ kind: 'docker' }),
    );
  });

  it('both renders carry the load-balancing contract', () => {
    const runDir = path.join(scratch, 'contract');
    for (const text of [
      renderNginxConfig({ kind: 'docker' }),
      renderNginxConfig({ kind: 'loopback', upstreamPorts: [8101, 8102, 8103], listen: '127.0.0.1:8000', runDir }),
    ]) {
      expect(text).toMatch(/upstream loan_api_cluster \{\s+least_conn;/);
      expect(text).toMatch(/keepalive 32;/);
      expect(text).toMatch(/keepalive_timeout 60s;/); // below Node's 65 s keep-alive
      expect(text).toMatch(/proxy_http_version 1\.1;/);
      expect(text).toMatch(/proxy_set_header Connection "";/);
      expect(text).toMatch(/proxy_next_upstream error timeout http_502 http_503 non_idempotent;/);
      expect(text).toMatch(/proxy_next_upstream_tries 3;/);
      expect(text).toMatch(/client_max_body_size 2m;/); // MAX_BODY_BYTES default 2 MiB
      expect(text).toMatch(/location = \/metrics \{\s+return 404;/);
      expect(text).toMatch(/proxy_set_header X-Request-ID \$loan_request_id;/);
      expect(text).toMatch(/proxy_hide_header X-Replica-Id;/);
      expect(text).toMatch(/rep="\$upstream_http_x_replica_id"/);
      expect(text).not.toMatch(/\{\{[A-Z_]+\}\}/);
    }
    expect(renderNginxConfig({ kind: 'docker' })).toMatch(/resolver 127\.0\.0\.11 valid=10s ipv6=off;/);
    expect(renderNginxConfig({ kind: 'docker' })).toMatch(/server loan-api:8000 resolve max_fails=1 fail_timeout=5s;/);
  });

  it('the podman flavour is the docker one less Docker DNS: loan-api resolved when nginx starts', () => {
    const docker = renderNginxConfig({ kind: 'docker' }).split('\n');
    const podman = renderNginxConfig({ kind: 'podman' }).split('\n');
    const only = (a: string[], b: string[]) => a.filter((line) => !b.includes(line));
    expect(only(podman, docker)).toEqual([
      '# Rendered from deploy/nginx.conf.template by scripts/nginx-config.ts (podman). Do not edit: edit the template.',
      '        server loan-api:8000 max_fails=1 fail_timeout=5s;',
    ]);
    expect(only(docker, podman)).toEqual([
      '# Rendered from deploy/nginx.conf.template by scripts/nginx-config.ts (docker). Do not edit: edit the template.',
      '    resolver 127.0.0.11 valid=10s ipv6=off;',
      '    resolver_timeout 2s;',
      '        server loan-api:8000 resolve max_fails=1 fail_timeout=5s;',
    ]);
  });

  it('nginx -t accepts the loopback config of npm run cluster', () => {
    const runDir = path.join(scratch, 'loopback');
    mkdirSync(path.join(runDir, 'logs'), { recursive: true });
    mkdirSync(path.join(runDir, 'temp'), { recursive: true });
    const conf = path.join(runDir, 'nginx.conf');
    writeFileSync(conf, renderNginxConfig({ kind: 'loopback', upstreamPorts: [8101, 8102, 8103], listen: '127.0.0.1:8000', runDir }));
    const result = nginxTest(conf);
    expect(result.status, result.output).toBe(0);
    expect(result.output).toMatch(/syntax is ok/);
  });

  it('nginx -t accepts the docker nginx.conf (container-only lines swapped: see the comment at the top)', () => {
    const bin = findNginx();
    const version = nginxVersion(bin);
    const knowsResolve = atLeast(version, [1, 27, 3]);
    const dir = path.join(scratch, 'docker');
    mkdirSync(dir, { recursive: true });
    let text = readFileSync(path.join(ROOT, DOCKER_CONFIG_RELATIVE_PATH), 'utf8');
    text = swapOnce(text, /^user nginx;$/m, '# user nginx;  (container only)');
    text = swapOnce(text, 'pid /run/nginx.pid;', `pid ${path.join(dir, 'nginx.pid')};`);
    text = swapOnce(text, 'error_log /var/log/nginx/error.log notice;', `error_log ${path.join(dir, 'error.log')} notice;`);
    text = swapOnce(text, 'access_log /var/log/nginx/access.log loan_api;', `access_log ${path.join(dir, 'access.log')} loan_api;`);
    text = swapOnce(text, 'server loan-api:8000 resolve ', knowsResolve ? 'server 127.0.0.1:8000 resolve ' : 'server 127.0.0.1:8000 ');
    // temp paths: the compiled-in defaults (Debian: /var/lib/nginx) need root; nginx -t creates them
    text = swapOnce(text, '    server_tokens off;\n', `    server_tokens off;\n    client_body_temp_path ${dir}/cb;\n    proxy_temp_path ${dir}/px;\n    fastcgi_temp_path ${dir}/fc;\n    uwsgi_temp_path ${dir}/uw;\n    scgi_temp_path ${dir}/sc;\n`);
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, text);
    const result = nginxTest(conf);
    expect(result.status, `nginx ${version.join('.')} (resolve ${knowsResolve ? 'kept' : 'dropped'}):\n${result.output}`).toBe(0);
    expect(result.output).toMatch(/syntax is ok/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = () => readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');

  it('builds on a pinned Node LTS Debian slim image, in stages', () => {
    const text = dockerfile();
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(text)?.[1];
    expect(image).toMatch(/^node:\d+\.\d+\.\d+-bookworm-slim(@sha256:[0-9a-f]{64})?$/);
    expect(Number(/^node:(\d+)/.exec(image!)![1]) % 2, 'even Node majors are the LTS lines').toBe(0);
    expect(text).toMatch(/^FROM \$\{NODE_IMAGE\} AS toolchain$/m);
    expect(text).toMatch(/^FROM toolchain AS build$/m);
    expect(text).toMatch(/^FROM toolchain AS prod-deps$/m);
    expect(text).toMatch(/^FROM \$\{NODE_IMAGE\} AS runtime$/m);
    expect(text).toMatch(/python3 make g\+\+/);
    expect(text).toMatch(/ENV ONNXRUNTIME_NODE_INSTALL=skip/);
    expect(text).toMatch(/COPY package\.json package-lock\.json \.npmrc/);
    expect(text).toMatch(/npm ci --omit=dev/);
    expect(text).toMatch(/ARG TARGETARCH/);
    expect(text).toMatch(/rm -rf "\$ort\/darwin" "\$ort\/win32"/);
    expect(text).toMatch(/COPY --from=prod-deps \/app\/node_modules/);
    expect(text).toMatch(/COPY --from=build \/app\/dist/);
  });

  it('builds the review console in the build stage, from what npm run build reads', () => {
    const build = dockerfile().split(/^FROM toolchain AS build$/m)[1].split(/^FROM /m)[0];
    // scripts/build-console.ts: console/ (page, sources, codegen config), schema.graphql (the types), src/config.ts
    for (const copied of [/^COPY src \.\/src$/m, /^COPY console \.\/console$/m, /^COPY scripts\/build-console\.ts \.\/scripts\/$/m, /^COPY [^\n]*\bschema\.graphql\b/m]) {
      expect(build).toMatch(copied);
    }
    expect(build.indexOf('RUN npm run build')).toBeGreaterThan(build.indexOf('COPY console'));
  });

  it('runs as a non-root user under tini, with volumes, port 8000 and a /ready health check', () => {
    const runtime = dockerfile().split(/^FROM \$\{NODE_IMAGE\} AS runtime$/m)[1];
    expect(runtime).toMatch(/^USER node$/m);
    // no usage events to Microsoft, and no exit held up by its uploader (npm run image:test caught it)
    expect(runtime).toMatch(/^\s+ORT_DISABLE_TELEMETRY=1 \\$/m);
    expect(runtime).toMatch(/^VOLUME \["\/app\/data", "\/app\/models"\]$/m);
    expect(runtime).toMatch(/^EXPOSE 8000 9464$/m);
    expect(runtime).toMatch(/^HEALTHCHECK [\s\S]*\/ready/m);
    expect(runtime).toMatch(/^ENTRYPOINT \["\/usr\/bin\/tini", "--"\]$/m);
    expect(runtime).toMatch(/^CMD \["node", "dist\/src\/server\.js"\]$/m);
    // what the server reads at start-up besides dist/ and node_modules (config.ts defaults)
    expect(runtime).toMatch(/^COPY package\.json /m);
    expect(runtime).toMatch(/^COPY policy \.\/policy$/m);
    expect(runtime).toMatch(/^COPY models \.\/models$/m);
    expect(runtime).not.toMatch(/g\+\+|python3/);
  });

  it('installs (npm ci --omit=dev) every package src/ loads at run time', () => {
    // no engine here to build the image and start it: this is what would fail at its start-up instead
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const production = new Set(Object.keys(pkg.dependencies ?? {}));
    const files = (readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    const needed = new Map<string, string>();
    for (const file of files) {
      const text = readFileSync(path.join(ROOT, 'src', file), 'utf8');
      const specifiers = [
        // import/export … from 'x', except `import type` / `export type` (erased by tsc)
        ...[...text.matchAll(/\b(?:import|export)\s+(type\s+)?[^;'"]*?\bfrom\s+['"]([^'"]+)['"]/g)].filter((m) => !m[1]).map((m) => m[2]),
        ...[...text.matchAll(/\bimport\s+['"]([^'"]+)['"]/g)].map((m) => m[1]),
        // import('x'), require('x'), createRequire(…)('x')
        ...[...text.matchAll(/(?:\bimport|\brequire|\))\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]),
      ];
      for (const spec of specifiers) {
        if (spec.startsWith('.') || spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        needed.set(name, `src/${file}`);
      }
    }
    expect(needed.size).toBeGreaterThan(3);
    const missing = [...needed].filter(([name]) => !production.has(name)).map(([name, file]) => `${name} (${file})`);
    expect(missing, 'imported at run time but not in package.json dependencies').toEqual([]);
  });

  it('.dockerignore keeps local state out of the build context', () => {
    const lines = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', 'run', '.git', 'data']) expect(lines).toContain(entry);
  });
});
