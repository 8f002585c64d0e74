/**
 * `npm run image:test`: builds the image from the Dockerfile and runs it, and the compose topology, with Debian's
 * podman and docker-compose, on a machine with no Docker engine and no container registry (docs/deployment.md,
 * "With podman instead of Docker"). What it checks:
 *
 *   image       `podman build --isolation=chroot --pull=never` of the Dockerfile, timed; stand-ins for its base
 *               images and the compose files' images are built first when absent (scripts/image-stand-ins.ts)
 *   container   one `podman run` of the image: answers the README's example exactly as the README shows, runs as
 *               uid 1000, logs no ONNX Runtime telemetry, exits 0 within 30 s (the compose stop_grace_period) of a
 *               SIGTERM
 *   sqlite      docker-compose.yml through podman's Docker API socket: 3 replicas and nginx up and healthy, /ready
 *               naming the audit store; 16 connections of load through nginx while one replica crashes (SIGKILL
 *               to its PID 1 from the host; failed/total); a decision made through nginx read back by
 *               decision(id) from other replicas; every acknowledged decision readable and stored in the shared
 *               ./data/decisions.db; `docker-compose stop` exits every replica 0
 *   postgres    the same with docker-compose.postgres.yml on top, the decisions counted in PostgreSQL
 *
 *   npm run image:test                              both variants
 *   npm run image:test -- --variant sqlite          one (sqlite or postgres)
 *   npm run image:test -- --no-cache                build without podman's layer cache (a first build's time)
 *   npm run image:test -- --node-image node:X-bookworm-slim     another NODE_IMAGE than the Dockerfile's
 *   npm run image:test -- --keep                    keep the scratch folder (logs, the SQLite database)
 *
 * Missing tools are installed with apt-get when run as root (podman, runc, debootstrap, docker-compose); otherwise
 * it stops and says what to install. Everything it starts has a per-run name (loanimg-<hex>) and is removed at the
 * end, on failure or Ctrl-C too: containers, compose networks and volumes, the API service (by its pid). Images are
 * kept, so a second run reuses them and the build cache.
 */
import { randomBytes } from 'node:crypto';
import { chownSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import Database from 'better-sqlite3';
import { readmeExample } from '../test/helpers/readme.js';
import { SCORE_MUTATION, APPLICATION, attributeReplicas, readAccessLog, runLoad } from '../test/e2e/load.js';
import { describeImage, ensureStandIns, qualified, type StandIn } from './image-stand-ins.js';
import { renderNginxConfig, repoRoot } from './nginx-config.js';
import { ensureTools, podmanEnvironment, run, runHealthChecks, startPodmanService, type PodmanService } from './podman.js';

const ROOT = repoRoot();
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const POSTGRES_COMPOSE_FILE = path.join(ROOT, 'docker-compose.postgres.yml');
/** docker-compose.yml's stop_grace_period: a replica must be gone by then */
const GRACE_MS = 30_000;
/** the load: 16 connections, 2,000 requests at 250 a second (8 s), one replica SIGKILLed 3 s in */
const LOAD = { connections: 16, amount: 2_000, ratePerSecond: 250, killAtMs: 3_000 };
/** how many times the shared decision is read back through nginx */
const READS = 9;

type Variant = 'sqlite' | 'postgres';

interface Options {
  variants: Variant[];
  noCache: boolean;
  keep: boolean;
  nodeImage?: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { variants: ['sqlite', 'postgres'], noCache: false, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--variant') {
      const value = argv[++i];
      if (value !== 'sqlite' && value !== 'postgres') throw new Error('--variant sqlite or --variant postgres');
      options.variants = [value];
    } else if (arg === '--no-cache') options.noCache = true;
    else if (arg === '--keep') options.keep = true;
    else if (arg === '--node-image') options.nodeImage = argv[++i];
    else throw new Error(`unknown option ${arg} (see the comment at the top of scripts/image-test.ts)`);
  }
  return options;
}

const started = Date.now();
const log = (line: string) => console.log(`[image-test ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const minutes = (ms: number) => (ms < 60_000 ? seconds(ms) : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}
const checks: Check[] = [];
function check(name: string, ok: boolean, detail: string): boolean {
  checks.push({ name, ok, detail });
  log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`);
  return ok;
}

/** What this run started, undone in reverse order at the end (and on Ctrl-C). */
const cleanups: Array<{ what: string; run: () => Promise<unknown> }> = [];
async function cleanUp() {
  while (cleanups.length) {
    const step = cleanups.pop()!;
    try {
      await step.run();
    } catch (error) {
      console.error(`[image-test] cleaning up ${step.what} failed: ${(error as Error).message}`);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The Dockerfile's `ARG NODE_IMAGE=…`: the one place the Node version is written. */
function dockerfileNodeImage(): string {
  const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'))?.[1];
  if (!image) throw new Error('no `ARG NODE_IMAGE=` line in the Dockerfile');
  return image;
}

/** service → image, from `docker-compose config` of the given files (a throwaway password satisfies the :? check). */
async function composeImages(files: string[], env: NodeJS.ProcessEnv): Promise<Record<string, string>> {
  const out = await run('docker-compose', [...files.flatMap((f) => ['-f', f]), 'config'], { env: { ...env, POSTGRES_PASSWORD: 'unused' } });
  const images: Record<string, string> = {};
  let section = '';
  let service = '';
  for (const line of out.stdout.split('\n')) {
    const top = /^(\S[^:]*):/.exec(line);
    if (top) section = top[1];
    const name = /^ {2}(\S[^:]*):\s*$/.exec(line);
    if (section === 'services' && name) service = name[1];
    const image = /^ {4}image: (\S+)$/.exec(line);
    if (section === 'services' && image) images[service] = image[1];
  }
  return images;
}

async function graphql(url: string, body: unknown, requestId?: string): Promise<{ status: number; json: any }> {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: response.status, json: await response.json() };
}

async function waitReady(url: string, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready at ${url}/ready after ${seconds(timeoutMs)}`);
    await sleep(250);
  }
}

/** Reads each id back through nginx, 16 at a time; returns the ids not found. */
async function unreadable(url: string, ids: string[]): Promise<string[]> {
  const missing: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++];
      try {
        const { json } = await graphql(url, { query: 'query($id: ID!) { decision(id: $id) { id } }', variables: { id } });
        if (json?.data?.decision?.id !== id) missing.push(id);
      } catch {
        missing.push(id);
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return missing;
}

interface Context {
  env: NodeJS.ProcessEnv;
  work: string;
  logFile: string;
  prefix: string;
  apiImage: string;
  service?: PodmanService;
}

async function podman(ctx: Context, args: string[], allowFailure = false) {
  return run('podman', args, { env: ctx.env, logFile: ctx.logFile, allowFailure });
}

async function buildImage(ctx: Context, nodeImage: string, noCache: boolean): Promise<{ ms: number; size: string; cached: string }> {
  const args = ['build', '--isolation=chroot', '--pull=never', '--build-arg', `NODE_IMAGE=${nodeImage}`, '-t', ctx.apiImage, '-f', path.join(ROOT, 'Dockerfile')];
  if (noCache) args.push('--no-cache');
  log(`podman ${args.join(' ')} . (log: ${ctx.logFile})`);
  const t0 = Date.now();
  const out = await run('podman', [...args, ROOT], { env: ctx.env, logFile: ctx.logFile, timeoutMs: 3_600_000 });
  const ms = Date.now() - t0;
  const size = (await podman(ctx, ['image', 'inspect', '--format', '{{.Size}}', ctx.apiImage])).stdout.trim();
  const output = `${out.stdout}${out.stderr}`;
  const steps = (output.match(/^\[\d+\/\d+\] STEP \d+\/\d+: (?!FROM )/gm) ?? []).length;
  const cached = (output.match(/^--> Using cache /gm) ?? []).length;
  return { ms, size: `${Math.round(Number(size) / 1e6)} MB`, cached: `${cached} of ${steps} steps from the layer cache` };
}

/** One container of the image, as `docker run` would start it: the README's example, its uid, SIGTERM. */
async function singleContainer(ctx: Context): Promise<Record<string, string>> {
  const name = `${ctx.prefix}-single`;
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  cleanups.push({ what: name, run: () => podman(ctx, ['rm', '--force', '--volumes', name], true) });
  const t0 = Date.now();
  await podman(ctx, ['run', '--detach', '--name', name, '--publish', `127.0.0.1:${port}:8000`, ctx.apiImage]);
  await waitReady(url, 60_000, name);
  const readyMs = Date.now() - t0;

  const { body, answer } = readmeExample();
  const { status, json } = await graphql(url, body);
  const same = status === 200 && isDeepStrictEqual(json, answer);
  const decision = json?.data?.scoreApplication;
  check('container: README example', same, same ? `the README's answer (${decision.outcome}, score ${decision.score}, ${decision.reasons.length} reasons)` : `HTTP ${status}: ${JSON.stringify(json).slice(0, 300)}`);

  const uid = (await podman(ctx, ['exec', name, 'id', '-u'])).stdout.trim();
  check('container: user', uid === '1000', `id -u = ${uid}`);

  // ONNX Runtime logs this line when its telemetry starts (the image sets ORT_DISABLE_TELEMETRY=1)
  const logs = await podman(ctx, ['logs', name]);
  const telemetry = `${logs.stdout}${logs.stderr}`.split('\n').filter((line) => /telemetry/i.test(line));
  check('container: no ONNX Runtime telemetry', telemetry.length === 0, telemetry.length ? telemetry[0].slice(0, 200) : 'no telemetry line in its log');

  const t1 = Date.now();
  await podman(ctx, ['kill', '--signal', 'TERM', name]);
  const waited = await run('podman', ['wait', name], { env: ctx.env, logFile: ctx.logFile, timeoutMs: GRACE_MS, allowFailure: true });
  const stopMs = Date.now() - t1;
  const exit = waited.code === 0 ? waited.stdout.trim() : `still running after ${seconds(GRACE_MS)}`;
  check('container: SIGTERM', exit === '0' && stopMs < GRACE_MS, `exit ${exit} after ${seconds(stopMs)}`);
  await podman(ctx, ['rm', '--volumes', name], true);
  return { ready: seconds(readyMs), uid, exit, stop: seconds(stopMs) };
}

interface ComposeContainer {
  id: string;
  name: string;
  service: string;
}

async function composeContainers(ctx: Context, project: string, all = false): Promise<ComposeContainer[]> {
  const out = await podman(ctx, ['ps', ...(all ? ['--all'] : []), '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.ID}} {{.Names}} {{index .Labels "com.docker.compose.service"}}']);
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, name, service] = line.split(' ');
      return { id, name, service };
    });
}

/** The audit rows: decisions.db in the project's ./data, or the postgres service's database. */
async function storedDecisions(ctx: Context, variant: Variant, dir: string, containers: ComposeContainer[]): Promise<number> {
  if (variant === 'sqlite') {
    const db = new Database(path.join(dir, 'data', 'decisions.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM decisions').get() as { n: number }).n;
    } finally {
      db.close();
    }
  }
  const pg = containers.find((c) => c.service === 'postgres')!;
  const out = await podman(ctx, ['exec', pg.name, 'psql', '--username=loan', '--dbname=loan_audit', '--tuples-only', '--no-align', '--command=SELECT count(*) FROM decisions']);
  return Number(out.stdout.trim());
}

async function composeVariant(ctx: Context, variant: Variant): Promise<Record<string, string>> {
  const project = `${ctx.prefix}-${variant}`;
  // a project directory of its own (./data for the SQLite file, a copy of ./models), so the run neither reads nor
  // writes the work tree's data/; nginx gets the podman render of the template
  const dir = mkdtempSync(path.join(ctx.work, `${variant}-`));
  cpSync(path.join(ROOT, 'models'), path.join(dir, 'models'), { recursive: true });
  mkdirSync(path.join(dir, 'data'));
  chownSync(path.join(dir, 'data'), 1000, 1000);
  const nginxConf = path.join(dir, 'nginx.podman.conf');
  writeFileSync(nginxConf, renderNginxConfig({ kind: 'podman' }));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const files = [COMPOSE_FILE, ...(variant === 'postgres' ? [POSTGRES_COMPOSE_FILE] : [])];
  const compose = ['-p', project, '--project-directory', dir, ...files.flatMap((f) => ['-f', f])];
  const env = {
    ...ctx.env,
    DOCKER_HOST: ctx.service!.dockerHost,
    LOAN_API_PORT: String(port),
    LOAN_API_NGINX_CONF: nginxConf,
    POSTGRES_PASSWORD: randomBytes(24).toString('hex'),
    // docker-compose waits on the API for as long as a health check takes to pass
    COMPOSE_HTTP_TIMEOUT: '300',
  };
  const dc = (args: string[], timeoutMs = 600_000) => run('docker-compose', [...compose, ...args], { env, logFile: ctx.logFile, timeoutMs });
  cleanups.push({
    what: `compose project ${project}`,
    run: async () => {
      // what the containers said, for a run that stopped half-way (the log is in the scratch folder: --keep)
      for (const c of await composeContainers(ctx, project, true)) await podman(ctx, ['logs', '--tail', '40', c.name], true);
      await dc(['down', '--volumes', '--remove-orphans', '--timeout', '30']);
    },
  });

  log(`${variant}: docker-compose ${compose.join(' ')} up -d (nginx on ${url})`);
  const health = runHealthChecks(project, ctx.env);
  const t0 = Date.now();
  try {
    await dc(['up', '--detach', '--no-build']);
  } finally {
    await health.stop();
  }
  const upMs = Date.now() - t0;
  const containers = await composeContainers(ctx, project);
  const replicas = containers.filter((c) => c.service === 'loan-api');
  const count = (service: string) => containers.filter((c) => c.service === service).length;
  const expected = variant === 'postgres' ? { 'loan-api': 3, nginx: 1, postgres: 1 } : { 'loan-api': 3, nginx: 1 };
  const running = Object.entries(expected).map(([service, n]) => `${count(service)}/${n} ${service}`);
  check(`${variant}: up`, Object.entries(expected).every(([service, n]) => count(service) === n), `${running.join(', ')} running after ${seconds(upMs)}`);
  await waitReady(url, 30_000, 'nginx');
  const store = ((await (await fetch(`${url}/ready`)).json()) as { auditStore?: string }).auditStore;
  const expectedStore = variant === 'sqlite' ? 'sqlite' : 'postgresql';
  check(`${variant}: audit store`, store === expectedStore, `/ready through nginx says auditStore ${store}`);
  // replicas say `hostname:pid` (REPLICA_ID's default), and a container's hostname is its short id
  const nameOf = (replicaId: string) => {
    const replica = replicas.find((r) => replicaId.startsWith(r.id.slice(0, 12)));
    return replica ? replica.name.slice(project.length + 1) : replicaId || '(none)';
  };

  // A crash, not a `podman kill` (which podman takes for a stop asked for, and does not restart): SIGKILL from the
  // host to the container's PID 1 (tini), which takes node with it.
  const victim = replicas[1];
  const victimPid = Number((await podman(ctx, ['inspect', '--format', '{{.State.Pid}}', victim.name])).stdout.trim());
  const report = await runLoad({
    url,
    amount: LOAD.amount,
    ratePerSecond: LOAD.ratePerSecond,
    connections: LOAD.connections,
    maxDurationMs: 60_000,
    actions: [{ atMs: LOAD.killAtMs, run: () => process.kill(victimPid, 'SIGKILL') }],
  });

  // restart: unless-stopped brings the crashed replica back; give it the health check's start period
  let victimState = '';
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(500)) {
    victimState = (await podman(ctx, ['inspect', '--format', '{{.State.Running}} {{.RestartCount}}', victim.name])).stdout.trim();
    if (victimState.startsWith('true') && !victimState.endsWith(' 0')) break;
  }
  const victimBack = victimState.startsWith('true') && !victimState.endsWith(' 0');
  if (victimBack) {
    const ip = (await podman(ctx, ['inspect', '--format', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', victim.name])).stdout.trim();
    await waitReady(`http://${ip}:8000`, 30_000, `${victim.name} after its restart`);
  }

  // a decision made through nginx, read back through nginx: least_conn sends the reads to the other replicas too
  const made = await graphql(url, { query: SCORE_MUTATION, variables: { i: APPLICATION } }, `${project}-make`);
  const id: string | undefined = made.json?.data?.scoreApplication?.id;
  const reads: Array<string | undefined> = [];
  for (let i = 0; i < READS; i++) {
    const read = await graphql(url, { query: 'query($id: ID!) { decision(id: $id) { id outcome } }', variables: { id } }, `${project}-read-${i}`);
    reads.push(read.json?.data?.decision?.id);
  }

  const accessLog = path.join(ctx.work, `${variant}-nginx.log`);
  const nginx = containers.find((c) => c.service === 'nginx')!;
  writeFileSync(accessLog, (await podman(ctx, ['logs', nginx.name])).stdout);
  const entries = readAccessLog(accessLog);
  attributeReplicas(report, entries);
  const spread = Object.entries(report.byReplica)
    .map(([replica, n]) => `${nameOf(replica)} ${n}`)
    .join(', ');
  const victimName = victim.name.slice(project.length + 1);
  check(
    `${variant}: SIGKILL under load`,
    report.failed === 0 && report.decisions === LOAD.amount && !report.capped,
    `${report.failed} failed of ${report.responses} (${LOAD.connections} connections, ${victimName} SIGKILLed at ${seconds(LOAD.killAtMs)}; ` +
      `p99 ${report.p99Ms} ms; answered by ${spread})`,
  );

  const replicaOf = (requestId: string) => nameOf(entries.find((e) => e.requestId === requestId)?.replica ?? '');
  const maker = replicaOf(`${project}-make`);
  const readers = Array.from({ length: READS }, (_, i) => replicaOf(`${project}-read-${i}`));
  const others = new Set(readers.filter((r) => r !== maker));
  check(
    `${variant}: shared decisions`,
    id !== undefined && reads.every((r) => r === id) && others.size >= 1,
    `${id} made on ${maker}, read ${reads.filter((r) => r === id).length} of ${READS} times, on ${[...new Set(readers)].sort().join(', ')}`,
  );
  const victimServes = readers.includes(victimName) || maker === victimName;
  log(
    `${variant}: ${victimName} ${victimBack ? `restarted by podman (${victimState.split(' ')[1]} restart), ${victimServes ? 'served again' : 'not served again'} through nginx` : 'not restarted'}`,
  );

  const acknowledged = [...report.decisionIds, ...(id ? [id] : [])];
  const missing = await unreadable(url, acknowledged);
  check(`${variant}: acknowledged decisions readable`, missing.length === 0, `${acknowledged.length - missing.length} of ${acknowledged.length} through nginx`);

  // stop before counting SQLite's rows, so every replica has closed the file; PostgreSQL is asked while it runs
  let stored = variant === 'postgres' ? await storedDecisions(ctx, variant, dir, containers) : -1;
  const t1 = Date.now();
  await dc(['stop', '--timeout', String(GRACE_MS / 1000)], GRACE_MS * 4);
  const stopMs = Date.now() - t1;
  // the crashed replica, when podman did not bring it back, still shows the kill's 137
  const stopped = victimBack ? replicas : replicas.filter((r) => r !== victim);
  const exits = await Promise.all(stopped.map(async (r) => (await podman(ctx, ['inspect', '--format', '{{.State.ExitCode}}', r.name])).stdout.trim()));
  check(`${variant}: docker-compose stop`, exits.every((code) => code === '0'), `${stopped.length} replicas exited ${exits.join(', ')} in ${seconds(stopMs)}`);
  for (const [i, code] of exits.entries()) {
    if (code !== '0') log(`${stopped[i].name}'s last lines:\n${(await podman(ctx, ['logs', '--tail', '8', stopped[i].name], true)).stdout.trimEnd()}`);
  }
  if (variant === 'sqlite') stored = await storedDecisions(ctx, variant, dir, containers);
  // A replica killed after its audit write but before its answer left leaves a decision nobody received, and
  // nginx's retry makes another: stored may exceed acknowledged by the requests in flight at the kill, never fall short.
  const extra = stored - acknowledged.length;
  const where = variant === 'sqlite' ? 'decisions.db' : 'PostgreSQL';
  check(`${variant}: stored decisions`, extra >= 0, `${stored} in ${where} for ${acknowledged.length} acknowledged (${extra} made by the killed replica without an answer)`);
  await dc(['down', '--volumes', '--remove-orphans', '--timeout', '30']);
  cleanups.pop();
  return {
    up: seconds(upMs),
    load: `${report.failed} failed of ${report.responses} (p99 ${report.p99Ms} ms)`,
    crash: `${victimName} ${victimBack ? `restarted, ${victimServes ? 'served again' : 'not served again'}` : 'not restarted'}`,
    shared: `read on ${[...new Set(readers)].length} replicas`,
    audit: `${stored} in ${where}, ${acknowledged.length} acknowledged, ${acknowledged.length - missing.length} readable`,
    stop: `exit ${exits.join(',')} in ${seconds(stopMs)}`,
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  ensureTools(log);
  const work = mkdtempSync(path.join(tmpdir(), 'loan-image-test-'));
  const ctx: Context = {
    env: podmanEnvironment(work),
    work,
    logFile: path.join(work, 'image-test.log'),
    prefix: `loanimg-${randomBytes(3).toString('hex')}`,
    apiImage: '',
  };
  cleanups.push({ what: work, run: async () => (options.keep ? log(`kept ${work}`) : rmSync(work, { recursive: true, force: true })) });
  const version = (await run('podman', ['--version'], { env: ctx.env })).stdout.trim();
  const composeVersion = (await run('docker-compose', ['version', '--short'], { env: ctx.env })).stdout.trim();
  log(`${version}, docker-compose ${composeVersion}; run ${ctx.prefix}; scratch ${work}`);

  const nodeImage = options.nodeImage ?? dockerfileNodeImage();
  const images = await composeImages(options.variants.includes('postgres') ? [COMPOSE_FILE, POSTGRES_COMPOSE_FILE] : [COMPOSE_FILE], ctx.env);
  ctx.apiImage = images['loan-api'];
  const standIns: StandIn[] = await ensureStandIns(
    { node: nodeImage, nginx: images.nginx, postgres: images.postgres },
    { env: ctx.env, workDir: work, logFile: ctx.logFile, log },
  );
  for (const s of standIns) {
    const description = (await describeImage(s.image, ctx.env)) || 'not a stand-in';
    log(`${qualified(s.image)}: ${s.state === 'built' ? `built in ${s.seconds} s` : 'present'} (${description})`);
  }

  const summary: Array<[string, string]> = [];
  const build = await buildImage(ctx, nodeImage, options.noCache);
  check('image: build', true, `${ctx.apiImage} on ${nodeImage} in ${minutes(build.ms)} (${build.cached}), ${build.size}`);
  summary.push(['build', `${ctx.apiImage} on ${nodeImage}: ${minutes(build.ms)} (${build.cached}), ${build.size}`]);

  log('one container: the README example, its user, SIGTERM');
  const single = await singleContainer(ctx);
  summary.push(['container', `ready in ${single.ready}; uid ${single.uid}; SIGTERM → exit ${single.exit} after ${single.stop}`]);

  ctx.service = await startPodmanService(path.join(work, 'podman.sock'), ctx.env, path.join(work, 'podman-service.log'));
  const service = ctx.service;
  cleanups.push({ what: `podman system service (pid ${service.pid})`, run: () => service.stop() });
  log(`podman system service: pid ${service.pid}, ${service.dockerHost}`);
  for (const variant of options.variants) {
    const result = await composeVariant(ctx, variant);
    summary.push([variant, Object.entries(result).map(([k, v]) => `${k} ${v}`).join('; ')]);
  }

  const failed = checks.filter((c) => !c.ok);
  console.log(`\n[image-test] summary (${version}, docker-compose ${composeVersion}, ${minutes(Date.now() - started)} in all)`);
  for (const s of standIns) console.log(`  stand-in   ${s.image}: ${s.state === 'built' ? `built in ${s.seconds} s` : 'present'}`);
  for (const [what, text] of summary) console.log(`  ${what.padEnd(10)} ${text}`);
  console.log(`  checks     ${checks.length - failed.length} of ${checks.length} passed${failed.length ? `; FAILED: ${failed.map((c) => c.name).join(', ')}` : ''}`);
  return failed.length ? 1 : 0;
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    console.error(`[image-test] ${signal}: cleaning up`);
    void cleanUp().then(() => process.exit(130));
  });
}

main()
  .catch((error: unknown) => {
    console.error(`[image-test] ${(error as Error).message}`);
    return 1;
  })
  .then(async (code) => {
    if (!interrupted) {
      await cleanUp();
      process.exit(code);
    }
  });
