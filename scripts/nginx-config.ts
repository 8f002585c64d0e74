/**
 * Renders deploy/nginx.conf.template into the nginx configs of the loan decisioning API:
 *
 *   docker    the committed ./nginx.conf mounted by docker-compose.yml (service `loan-api`, re-resolved via Docker DNS)
 *   podman    the same for docker-compose on podman (`npm run image:test`, docs/deployment.md): `loan-api` resolved
 *             once, when nginx starts, through the container's resolv.conf
 *   loopback  the one-machine config of `npm run cluster` (127.0.0.1:PORT per replica, paths in the run folder)
 *
 * One template, so the two cannot drift apart; test/e2e/docker-static.test.ts checks that ./nginx.conf is
 * exactly what `render docker` produces.
 *
 *   npx tsx scripts/nginx-config.ts docker > nginx.conf          (or: docker --out nginx.conf)
 *   npx tsx scripts/nginx-config.ts docker --check               exit 1 if ./nginx.conf differs from the template
 *   npx tsx scripts/nginx-config.ts podman --out run/nginx.podman.conf
 *   npx tsx scripts/nginx-config.ts loopback --ports 8101,8102,8103 --listen 127.0.0.1:8000 --run-dir run/cluster
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { APP_ROOT } from '../src/config.js';

/** The repository root (works from scripts/ and dist/scripts/): the project folder the service itself resolves. */
export function repoRoot(): string {
  return APP_ROOT;
}

export const TEMPLATE_RELATIVE_PATH = 'deploy/nginx.conf.template';
export const DOCKER_CONFIG_RELATIVE_PATH = 'nginx.conf';

/** What docker-compose.yml calls the API service and the port its containers listen on. */
export const DOCKER_SERVICE = 'loan-api';
export const DOCKER_SERVICE_PORT = 8000;
/** Docker's embedded DNS server, reachable from every container on a user-defined network. */
export const DOCKER_DNS = '127.0.0.11';

/** An upstream server is skipped for this long after one failure (refused, reset, timeout, 502, 503). */
const PEER_FAILURE = 'max_fails=1 fail_timeout=5s';

export type NginxTarget =
  | {
      kind: 'docker' | 'podman';
    }
  | {
      kind: 'loopback';
      /** the replicas' ports on upstreamHost */
      upstreamPorts: number[];
      /** `listen` argument, e.g. "127.0.0.1:8000" */
      listen: string;
      /** absolute folder for pid, logs and temp files */
      runDir: string;
      /** @default "127.0.0.1" */
      upstreamHost?: string;
      /** @default 1 */
      workerProcesses?: number;
    };

const PLACEHOLDER = /\{\{([A-Z_]+)\}\}/g;

export function readTemplate(root = repoRoot()): string {
  return readFileSync(path.join(root, TEMPLATE_RELATIVE_PATH), 'utf8');
}

/** The placeholder values for a target; every placeholder of the template must be here and vice versa. */
export function templateValues(target: NginxTarget): Record<string, string> {
  if (target.kind !== 'loopback') {
    const docker = target.kind === 'docker';
    return {
      HEADER: `Rendered from ${TEMPLATE_RELATIVE_PATH} by scripts/nginx-config.ts (${target.kind}). Do not edit: edit the template.`,
      // the official nginx image's unprivileged worker user; its /var/log/nginx/*.log are symlinks to stdout/stderr
      USER: 'user nginx;',
      WORKER_PROCESSES: 'auto',
      PID_FILE: '/run/nginx.pid',
      ERROR_LOG: '/var/log/nginx/error.log',
      ACCESS_LOG: '/var/log/nginx/access.log',
      TEMP_PATHS: '',
      // Docker DNS answers `loan-api` with one A record per replica; `resolve` re-reads them every 10 s, so
      // `docker compose up --scale loan-api=5` or a replaced container is picked up without an nginx reload.
      // Podman's DNS server is not at Docker's address (it is the network's gateway, different on every network), and
      // Debian's nginx (1.22, the stand-in of npm run image:test) has no `resolve`: nginx resolves `loan-api` when it
      // starts, through the container's resolv.conf, and keeps those addresses until it is restarted or reloaded.
      RESOLVER: docker ? [`    resolver ${DOCKER_DNS} valid=10s ipv6=off;`, '    resolver_timeout 2s;'].join('\n') : '',
      UPSTREAM_SERVERS: `        server ${DOCKER_SERVICE}:${DOCKER_SERVICE_PORT}${docker ? ' resolve' : ''} ${PEER_FAILURE};`,
      LISTEN: '80',
    };
  }
  if (target.upstreamPorts.length === 0) throw new Error('loopback nginx config needs at least one upstream port');
  if (!path.isAbsolute(target.runDir)) throw new Error(`runDir must be absolute, got ${target.runDir}`);
  const host = target.upstreamHost ?? '127.0.0.1';
  const p = (...parts: string[]) => path.join(target.runDir, ...parts);
  return {
    HEADER: `Rendered from ${TEMPLATE_RELATIVE_PATH} by scripts/cluster.ts (loopback). Regenerated at every start.`,
    // no `user`: as root the workers run as nginx's default (nobody), otherwise as the invoking user
    USER: '',
    WORKER_PROCESSES: String(target.workerProcesses ?? 1),
    PID_FILE: p('nginx.pid'),
    ERROR_LOG: p('logs', 'nginx-error.log'),
    ACCESS_LOG: p('logs', 'nginx-access.log'),
    TEMP_PATHS: [
      `    client_body_temp_path ${p('temp', 'client_body')};`,
      `    proxy_temp_path ${p('temp', 'proxy')};`,
      `    fastcgi_temp_path ${p('temp', 'fastcgi')};`,
      `    uwsgi_temp_path ${p('temp', 'uwsgi')};`,
      `    scgi_temp_path ${p('temp', 'scgi')};`,
    ].join('\n'),
    RESOLVER: '',
    UPSTREAM_SERVERS: target.upstreamPorts.map((port) => `        server ${host}:${port} ${PEER_FAILURE};`).join('\n'),
    LISTEN: target.listen,
  };
}

/** Fills the template. A line that holds only a placeholder which renders empty is dropped. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  const used = new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]));
  const missing = [...used].filter((name) => !(name in values));
  const unused = Object.keys(values).filter((name) => !used.has(name));
  if (missing.length || unused.length) {
    throw new Error(`nginx template and values disagree: missing values ${missing.join(', ') || '-'}; unknown ${unused.join(', ') || '-'}`);
  }
  const out: string[] = [];
  for (const line of template.split('\n')) {
    const only = /^\s*\{\{([A-Z_]+)\}\}\s*$/.exec(line);
    if (only && values[only[1]] === '') continue;
    out.push(line.replace(PLACEHOLDER, (_, name: string) => values[name]));
  }
  return out.join('\n');
}

export function renderNginxConfig(target: NginxTarget, template = readTemplate()): string {
  return renderTemplate(template, templateValues(target));
}

function parseArgs(argv: string[]): Map<string, string | true> {
  const args = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      args.set(a.slice(2), next);
      i++;
    } else args.set(a.slice(2), true);
  }
  return args;
}

function main(argv: string[]): number {
  const [kind, ...rest] = argv;
  const args = parseArgs(rest);
  const root = repoRoot();
  let target: NginxTarget;
  if (kind === 'docker' || kind === 'podman') target = { kind };
  else if (kind === 'loopback') {
    const ports = String(args.get('ports') ?? '8101,8102,8103')
      .split(',')
      .map((s) => Number(s.trim()));
    if (ports.some((n) => !Number.isInteger(n) || n <= 0 || n > 65535)) throw new Error('--ports: comma-separated port numbers');
    target = {
      kind: 'loopback',
      upstreamPorts: ports,
      listen: String(args.get('listen') ?? '127.0.0.1:8000'),
      runDir: path.resolve(String(args.get('run-dir') ?? path.join(root, 'run', 'cluster'))),
    };
  } else {
    process.stderr.write('usage: tsx scripts/nginx-config.ts docker [--out FILE | --check] | podman [--out FILE] | loopback [--ports a,b,c] [--listen HOST:PORT] [--run-dir DIR] [--out FILE]\n');
    return 2;
  }
  const text = renderNginxConfig(target, readTemplate(root));
  if (args.get('check')) {
    const file = path.join(root, DOCKER_CONFIG_RELATIVE_PATH);
    if (kind !== 'docker') throw new Error('--check compares the docker render with ./nginx.conf');
    if (!existsSync(file) || readFileSync(file, 'utf8') !== text) {
      process.stderr.write(`${DOCKER_CONFIG_RELATIVE_PATH} is out of date: run npx tsx scripts/nginx-config.ts docker --out nginx.conf\n`);
      return 1;
    }
    process.stdout.write(`${DOCKER_CONFIG_RELATIVE_PATH} matches ${TEMPLATE_RELATIVE_PATH}\n`);
    return 0;
  }
  const out = args.get('out');
  if (typeof out === 'string') writeFileSync(path.resolve(out), text);
  else process.stdout.write(text);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
