/**
 * The docker-compose deployment on one machine, without Docker: N replicas of `node dist/src/server.js` on
 * loopback ports behind Debian's nginx, configured from the same template as the Docker nginx.conf.
 *
 *   npm run cluster                    start (foreground; Ctrl-C stops everything it started)
 *   npm run cluster -- --replicas 5 --port 8080 --base-port 9101 --metrics-base-port 9201
 *   npm run cluster:stop               stop a cluster started from another terminal (reads run/cluster/*.pid)
 *
 * Options: --replicas N (3), --port P (LOAN_API_PORT or 8000; nginx), --base-port P (8101; replicas use P..P+N-1),
 * --metrics-base-port P (9464; replica i serves /metrics on P+i-1, loopback only), --host H (127.0.0.1; nginx listen
 * address), --run-dir DIR (run/cluster), --no-build, --no-restart.
 * Every replica inherits this process's environment (MODEL_DIR, DATA_DIR, LOG_LEVEL, BATCH_*, ...), with PORT,
 * METRICS_PORT, HOST=127.0.0.1, METRICS_HOST=127.0.0.1 and REPLICA_ID=replica-<i> set per replica.
 *
 * startCluster() is what the e2e tests use, so the tests exercise exactly this start/stop logic.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderNginxConfig, repoRoot } from './nginx-config.js';

export const DEFAULT_ENTRY = 'dist/src/server.js';
const NGINX_CANDIDATES = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'];

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  pid: number;
  child: ChildProcess;
  /** resolves once the process has exited */
  exited: Promise<ExitInfo>;
  /** set once the process has exited */
  exit?: ExitInfo;
}

export interface Replica extends ManagedProcess {
  index: number;
  id: string;
  port: number;
  url: string;
  /** the replica's own metrics listener: `${metricsUrl}/metrics` (never behind nginx) */
  metricsUrl: string;
  logFile: string;
}

export interface ClusterOptions {
  /** @default 3 */
  replicas?: number;
  /** first replica port; replica i listens on basePort + i - 1. @default 8101 */
  basePort?: number;
  /** first metrics port; replica i serves /metrics on metricsBasePort + i - 1. @default 9464 */
  metricsBasePort?: number;
  /** nginx port. @default LOAN_API_PORT or 8000 */
  port?: number;
  /** nginx listen address. @default 127.0.0.1 */
  host?: string;
  /** folder for the rendered nginx.conf, pid files, logs and nginx temp files. @default <repo>/run/cluster */
  runDir?: string;
  /** 'auto' runs `npm run build` when dist is missing or older than src; 'never' only checks it exists. @default 'auto' */
  build?: 'auto' | 'always' | 'never';
  /** the server entry, relative to the repository root. @default dist/src/server.js */
  entry?: string;
  /** extra environment for every replica (on top of process.env) */
  env?: NodeJS.ProcessEnv;
  /** ports of servers this cluster does not start but nginx should balance over too (tests use it) */
  extraUpstreamPorts?: number[];
  /** how long one replica may take to report /ready. @default 60 s */
  readyTimeoutMs?: number;
  /** nginx binary. @default /usr/sbin/nginx, then PATH */
  nginxBin?: string;
  /** restart a replica that exits on its own (not through stop/restartReplica). @default false */
  restartCrashed?: boolean;
  /** progress messages. @default nothing */
  log?: (line: string) => void;
}

export interface Cluster {
  /** nginx, e.g. http://127.0.0.1:8000 */
  url: string;
  runDir: string;
  nginx: ManagedProcess;
  /** the current process of each replica (replaced by restartReplica) */
  replicas: Replica[];
  /** starts replica `index` again on its port (after it exited) and waits for /ready */
  restartReplica(index: number): Promise<Replica>;
  /** stops nginx (graceful) and every replica (SIGTERM), SIGKILL after a grace period; idempotent */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------

export function findNginx(explicit?: string): string {
  const fromEnv = explicit ?? process.env.NGINX_BIN;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`nginx not found at ${fromEnv}`);
    return fromEnv;
  }
  for (const candidate of NGINX_CANDIDATES) if (existsSync(candidate)) return candidate;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && existsSync(path.join(dir, 'nginx'))) return path.join(dir, 'nginx');
  }
  throw new Error('nginx not found (looked in /usr/sbin and PATH): install nginx: apt-get install nginx');
}

/** The newest modification time of the files under dir with one of the extensions. */
function newestMtime(dir: string, exts: string[]): number {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(full, exts));
    else if (exts.some((e) => entry.name.endsWith(e))) newest = Math.max(newest, statSync(full).mtimeMs);
  }
  return newest;
}

/** Whether dist/ is missing or older than the sources it is compiled from. */
export function buildIsStale(root: string, entry = DEFAULT_ENTRY): boolean {
  const built = path.resolve(root, entry);
  if (!existsSync(built)) return true;
  const sources = Math.max(
    newestMtime(path.join(root, 'src'), ['.ts']),
    ...['tsconfig.json', 'tsconfig.build.json'].map((f) => (existsSync(path.join(root, f)) ? statSync(path.join(root, f)).mtimeMs : 0)),
  );
  return sources > statSync(built).mtimeMs;
}

/**
 * Runs fn while holding run/build.lock, so two callers (e.g. two e2e test files starting clusters at once) never run
 * tsc over the same dist/ together. Synchronous on purpose: bench scripts call ensureBuild before anything else.
 */
export function withBuildLock<T>(root: string, fn: () => T): T {
  const lock = path.join(root, 'run', 'build.lock');
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      try {
        // left behind by a build that was killed: nobody builds for 5 minutes
        if (Date.now() - statSync(lock).mtimeMs > 300_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      if (Date.now() > deadline) throw new Error(`another build held ${lock} for 3 minutes; remove it if no build is running`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export function ensureBuild(root: string, mode: 'auto' | 'always' | 'never', entry = DEFAULT_ENTRY, log?: (l: string) => void): void {
  if (mode === 'never' || (mode === 'auto' && !buildIsStale(root, entry))) {
    if (!existsSync(path.resolve(root, entry))) throw new Error(`${entry} does not exist: run npm run build`);
    return;
  }
  withBuildLock(root, () => {
    // another process may have built while this one waited for the lock
    if (mode === 'auto' && !buildIsStale(root, entry)) return;
    log?.(`building (npm run build): ${existsSync(path.resolve(root, entry)) ? 'dist is older than src' : `${entry} is missing`}`);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const result = spawnSync(npm, ['run', 'build'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    if (result.status !== 0) {
      throw new Error(`npm run build failed (exit ${result.status}):\n${result.stdout}\n${result.stderr}`.trim());
    }
    if (!existsSync(path.resolve(root, entry))) throw new Error(`npm run build succeeded but ${entry} does not exist`);
  });
}

export function assertPortFree(port: number, host = '127.0.0.1', hint = ''): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${host}:${port} is already in use${hint}` : `cannot bind ${host}:${port}: ${err.message}`));
    });
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

function track(child: ChildProcess): ManagedProcess {
  if (child.pid === undefined) throw new Error('spawn failed: no pid');
  const managed: ManagedProcess = {
    pid: child.pid,
    child,
    exited: new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        managed.exit = { code, signal };
        resolve(managed.exit);
      });
    }),
  };
  return managed;
}

/** The command line of a pid (Linux /proc), or '' where unavailable. */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** When the process started (clock ticks since boot, Linux /proc), so a pid file can tell its process from a later one with a recycled pid. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** `<pid>` on the first line (what nginx's own pid file holds too), then `start=<ticks>` where /proc has it. */
function writePidFile(file: string, pid: number): void {
  const start = processStartTime(pid);
  writeFileSync(file, `${pid}\n${start ? `start=${start}\n` : ''}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // an exited process nobody has reaped yet (state Z) is not alive
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true; // no /proc: trust kill(pid, 0)
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sends `signal`, waits up to graceMs for the exit, then SIGKILLs. Only ever signals this exact pid. */
export async function stopProcess(proc: ManagedProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<ExitInfo> {
  if (proc.exit) return proc.exit;
  try {
    process.kill(proc.pid, signal);
  } catch {
    /* already gone */
  }
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([proc.exited, timer])) === 'timeout') {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return proc.exited;
}

/** Polls url/ready until 200; fails early when the process exits. */
export async function waitReady(url: string, proc: ManagedProcess | undefined, timeoutMs: number, what = url): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (proc?.exit) throw new Error(`${what} exited (code ${proc.exit.code}, signal ${proc.exit.signal}) before it was ready`);
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms (last /ready: ${last})`);
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export function spawnReplica(opts: {
  root: string;
  entry: string;
  index: number;
  port: number;
  metricsPort: number;
  runDir: string;
  env?: NodeJS.ProcessEnv;
}): Replica {
  const id = `replica-${opts.index}`;
  const logFile = path.join(opts.runDir, 'logs', `${id}.log`);
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(process.execPath, [opts.entry], {
      cwd: opts.root,
      env: {
        NODE_ENV: 'production',
        // as npm start and the image: two malloc arenas, ~40 MB less resident under bulk load
        MALLOC_ARENA_MAX: '2',
        // as npm start and the image: onnxruntime-node sends Microsoft no usage events from a lender's replicas
        ORT_DISABLE_TELEMETRY: '1',
        ...process.env,
        ...opts.env,
        PORT: String(opts.port),
        HOST: '127.0.0.1',
        METRICS_PORT: String(opts.metricsPort),
        METRICS_HOST: '127.0.0.1',
        REPLICA_ID: id,
      },
      stdio: ['ignore', fd, fd],
      // own process group: a Ctrl-C in the terminal reaches only the supervisor, which stops replicas in order
      detached: true,
    });
    // the same object track() updates on exit, so replica.exit is live
    const replica: Replica = Object.assign(track(child), {
      index: opts.index,
      id,
      port: opts.port,
      url: `http://127.0.0.1:${opts.port}`,
      metricsUrl: `http://127.0.0.1:${opts.metricsPort}`,
      logFile,
    });
    writePidFile(path.join(opts.runDir, `${id}.pid`), replica.pid);
    return replica;
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------------------------------

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const root = repoRoot();
  const log = options.log ?? (() => {});
  const replicaCount = options.replicas ?? 3;
  const basePort = options.basePort ?? 8101;
  const metricsBasePort = options.metricsBasePort ?? 9464;
  const port = options.port ?? Number(process.env.LOAN_API_PORT ?? 8000);
  const host = options.host ?? '127.0.0.1';
  const runDir = path.resolve(options.runDir ?? path.join(root, 'run', 'cluster'));
  const entry = options.entry ?? DEFAULT_ENTRY;
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  if (!Number.isInteger(replicaCount) || replicaCount < 1) throw new Error('--replicas must be a positive integer');
  const replicaPorts = Array.from({ length: replicaCount }, (_, i) => basePort + i);
  const metricsPorts = replicaPorts.map((_, i) => metricsBasePort + i);
  if (replicaPorts.includes(port)) throw new Error(`nginx port ${port} overlaps the replica ports ${replicaPorts.join(', ')}`);
  if (metricsPorts.some((p) => p === port || replicaPorts.includes(p))) {
    throw new Error(`the metrics ports ${metricsPorts.join(', ')} overlap the replica or nginx ports`);
  }

  const supervisorPid = path.join(runDir, 'cluster.pid');
  if (existsSync(supervisorPid)) {
    const pid = Number(readFileSync(supervisorPid, 'utf8').split('\n')[0]);
    if (pid !== process.pid && isAlive(pid) && commandLine(pid).includes('cluster')) {
      throw new Error(`a cluster is already running from ${runDir} (pid ${pid}): npm run cluster:stop`);
    }
  }
  mkdirSync(path.join(runDir, 'logs'), { recursive: true });
  // written first, so `npm run cluster:stop` finds this process even while it is still building
  writePidFile(supervisorPid, process.pid);

  let nginxBin: string;
  try {
    nginxBin = findNginx(options.nginxBin);
    ensureBuild(root, options.build ?? 'auto', entry, log);
    await assertPortFree(port, host, ` (set LOAN_API_PORT=8080 or --port 8080)`);
    for (const p of replicaPorts) await assertPortFree(p, '127.0.0.1', ` (choose other replica ports with --base-port)`);
    for (const p of metricsPorts) await assertPortFree(p, '127.0.0.1', ` (choose other metrics ports with --metrics-base-port)`);
    // nginx creates the temp folders itself (and hands them to its worker user when started as root);
    // the run folder must be traversable for that worker user
    rmSync(path.join(runDir, 'temp'), { recursive: true, force: true });
    mkdirSync(path.join(runDir, 'temp'), { recursive: true });
    chmodSync(runDir, 0o755);
    chmodSync(path.join(runDir, 'temp'), 0o755);
  } catch (err) {
    rmSync(supervisorPid, { force: true });
    throw err;
  }

  const replicas: Replica[] = [];
  const retired: ManagedProcess[] = [];
  let nginx: ManagedProcess | undefined;
  let stopping = false;
  let stopped: Promise<void> | undefined;

  const startReplica = async (index: number): Promise<Replica> => {
    const replica = spawnReplica({
      root,
      entry,
      index,
      port: basePort + index - 1,
      metricsPort: metricsBasePort + index - 1,
      runDir,
      env: options.env,
    });
    replicas[index - 1] = replica;
    replica.exited.then((info) => {
      if (stopping || replicas[index - 1] !== replica) return;
      log(`${replica.id} (pid ${replica.pid}, port ${replica.port}) exited: code ${info.code}, signal ${info.signal}`);
      if (options.restartCrashed) {
        setTimeout(() => {
          if (stopping || replicas[index - 1] !== replica) return;
          log(`restarting ${replica.id}`);
          startReplica(index).catch((err: Error) => log(`restart of ${replica.id} failed: ${err.message}`));
        }, 1_000);
      }
    });
    try {
      await waitReady(replica.url, replica, readyTimeoutMs, `${replica.id} (pid ${replica.pid}, port ${replica.port})`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${replica.logFile} ---\n${tail(replica.logFile)}`);
    }
    log(`${replica.id} ready: pid ${replica.pid}, ${replica.url} (metrics: ${replica.metricsUrl}/metrics)`);
    return replica;
  };

  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      // nginx first (SIGQUIT = finish in-flight requests, then exit), so no request lands on a stopping replica
      if (nginx) await stopProcess(nginx, 'SIGQUIT', 10_000);
      await Promise.all([...replicas, ...retired].filter(Boolean).map((r) => stopProcess(r, 'SIGTERM', 15_000)));
      for (const f of readdirSync(runDir)) if (f.endsWith('.pid')) rmSync(path.join(runDir, f), { force: true });
      log('cluster stopped');
    })();
    return stopped;
  };

  try {
    log(`starting ${replicaCount} replicas of node ${entry} on 127.0.0.1:${replicaPorts[0]}..${replicaPorts.at(-1)}`);
    await Promise.all(replicaPorts.map((_, i) => startReplica(i + 1)));

    const conf = path.join(runDir, 'nginx.conf');
    writeFileSync(
      conf,
      renderNginxConfig({
        kind: 'loopback',
        upstreamPorts: [...replicaPorts, ...(options.extraUpstreamPorts ?? [])],
        listen: `${host}:${port}`,
        runDir,
      }),
    );
    const errorLog = path.join(runDir, 'logs', 'nginx-error.log');
    const test = spawnSync(nginxBin, ['-t', '-q', '-c', conf, '-p', runDir, '-e', errorLog], { encoding: 'utf8' });
    if (test.status !== 0) throw new Error(`nginx -t rejected ${conf}:\n${test.stderr}`);
    const nginxOut = openSync(path.join(runDir, 'logs', 'nginx-stdio.log'), 'a');
    try {
      nginx = track(
        spawn(nginxBin, ['-c', conf, '-p', runDir, '-e', errorLog, '-g', 'daemon off;'], {
          stdio: ['ignore', nginxOut, nginxOut],
          detached: true,
        }),
      );
    } finally {
      closeSync(nginxOut);
    }
    writePidFile(path.join(runDir, 'nginx-master.pid'), nginx.pid);
    const url = `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    try {
      await waitReady(url, nginx, 15_000, `nginx (pid ${nginx.pid}) on ${url}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- ${errorLog} ---\n${tail(errorLog)}`);
    }
    log(`nginx ready: pid ${nginx.pid}, ${url} (config ${conf})`);

    const cluster: Cluster = {
      url,
      runDir,
      nginx,
      replicas,
      restartReplica: async (index: number) => {
        const old = replicas[index - 1];
        if (!old) throw new Error(`no replica ${index}`);
        if (!old.exit) throw new Error(`${old.id} (pid ${old.pid}) is still running; stop it first`);
        retired.push(old);
        return startReplica(index);
      },
      stop,
    };
    return cluster;
  } catch (err) {
    await stop();
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------------------


/**
 * `npm run cluster:stop`: asks the supervisor (cluster.pid) to stop everything; if the supervisor is gone,
 * stops the processes in the pid files itself. A pid is only signalled when its command line still looks like
 * what the cluster started (so a recycled pid is left alone).
 */
export async function stopClusterFromPidFiles(runDir: string, log: (l: string) => void = console.log): Promise<number> {
  if (!existsSync(runDir)) {
    log(`nothing to stop: ${runDir} does not exist`);
    return 0;
  }
  const readPid = (file: string) => {
    let text: string;
    try {
      text = readFileSync(path.join(runDir, file), 'utf8');
    } catch {
      return undefined; // nginx removes its own nginx.pid on exit
    }
    const [first = '', ...rest] = text.split('\n');
    const n = Number(first.trim());
    if (!Number.isInteger(n) || n <= 0) return undefined;
    const start = rest.find((l) => l.startsWith('start='))?.slice('start='.length);
    return { pid: n, start };
  };
  /** Whether pid is still the process the file was written for: same start time, else a plausible command line. */
  const stillOurs = (entry: { pid: number; start?: string }, expected: RegExp) => {
    const now = processStartTime(entry.pid);
    if (entry.start && now) return entry.start === now;
    const cmd = commandLine(entry.pid);
    return !cmd || expected.test(cmd);
  };
  const waitGone = async (pid: number, ms: number) => {
    const deadline = Date.now() + ms;
    while (isAlive(pid) && Date.now() < deadline) await sleep(100);
    return !isAlive(pid);
  };
  const listPidFiles = () => (existsSync(runDir) ? readdirSync(runDir).filter((f) => f.endsWith('.pid')) : []);
  const pidFiles = listPidFiles();
  if (pidFiles.length === 0) {
    log(`nothing to stop: no pid files in ${runDir}`);
    return 0;
  }
  const supervisor = pidFiles.includes('cluster.pid') ? readPid('cluster.pid') : undefined;
  if (supervisor && isAlive(supervisor.pid) && stillOurs(supervisor, /cluster/)) {
    log(`stopping the cluster supervisor (pid ${supervisor.pid})`);
    process.kill(supervisor.pid, 'SIGTERM');
    if (!(await waitGone(supervisor.pid, 40_000))) {
      log(`supervisor ${supervisor.pid} did not exit within 40 s; stopping its processes directly`);
    }
    // normally it removed every pid file on its way out; whatever is left (it died mid-start) is handled below
  }
  let failures = 0;
  const remaining = listPidFiles().filter((f) => f !== 'cluster.pid');
  // nginx first (nginx-master.pid is ours; nginx.pid is nginx's own copy of the same pid), then the replicas
  const order = [...remaining.filter((f) => f.startsWith('nginx')).sort(), ...remaining.filter((f) => f.startsWith('replica-'))];
  const signalled = new Set<number>();
  for (const file of order) {
    const entry = readPid(file);
    const pid = entry?.pid;
    if (!entry || !pid || signalled.has(pid) || !isAlive(pid)) {
      rmSync(path.join(runDir, file), { force: true });
      continue;
    }
    if (!stillOurs(entry, file.startsWith('nginx') ? /nginx/ : /server\.js/)) {
      log(`${file}: pid ${pid} is now another process ("${commandLine(pid).trim()}"); leaving it alone`);
      rmSync(path.join(runDir, file), { force: true });
      continue;
    }
    signalled.add(pid);
    const signal = file.startsWith('nginx') ? 'SIGQUIT' : 'SIGTERM';
    log(`${file}: ${signal} → pid ${pid}`);
    process.kill(pid, signal);
    if (!(await waitGone(pid, 15_000))) {
      log(`${file}: pid ${pid} still alive after 15 s; SIGKILL`);
      process.kill(pid, 'SIGKILL');
      if (!(await waitGone(pid, 5_000))) failures++;
    }
    rmSync(path.join(runDir, file), { force: true });
  }
  if (supervisor) rmSync(path.join(runDir, 'cluster.pid'), { force: true });
  log(failures ? `${failures} process(es) could not be stopped` : 'stopped');
  return failures ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------

function parseCli(argv: string[]): { command: string; flags: Map<string, string | true> } {
  const [command = 'start', ...rest] = argv;
  const flags = new Map<string, string | true>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [key, inline] = a.slice(2).split('=', 2);
    if (inline !== undefined) flags.set(key, inline);
    else if (rest[i + 1] !== undefined && !rest[i + 1].startsWith('--')) flags.set(key, rest[++i]);
    else flags.set(key, true);
  }
  return { command, flags };
}

function intFlag(flags: Map<string, string | true>, name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer`);
  return n;
}

async function statusLine(cluster: Cluster): Promise<string> {
  const states = await Promise.all(
    cluster.replicas.map(async (r) => {
      if (r.exit) return `${r.port}:down`;
      try {
        const res = await fetch(`${r.url}/ready`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        return `${r.port}:${res.status === 200 ? 'ready' : res.status}`;
      } catch {
        return `${r.port}:no-answer`;
      }
    }),
  );
  const ready = states.filter((s) => s.endsWith(':ready')).length;
  return `${new Date().toISOString().slice(11, 19)} ${cluster.url} → ${ready}/${states.length} ready [${states.join(' ')}] nginx pid ${cluster.nginx.pid}${cluster.nginx.exit ? ' (exited!)' : ''}`;
}

async function cli(argv: string[]): Promise<number> {
  const { command, flags } = parseCli(argv);
  const root = repoRoot();
  const runDir = path.resolve(typeof flags.get('run-dir') === 'string' ? (flags.get('run-dir') as string) : path.join(root, 'run', 'cluster'));
  if (command === 'stop') return stopClusterFromPidFiles(runDir);
  if (command !== 'start') {
    console.error('usage: tsx scripts/cluster.ts start [--replicas 3] [--port 8000] [--base-port 8101] [--metrics-base-port 9464] [--host 127.0.0.1] [--run-dir run/cluster] [--no-build] [--no-restart] | stop [--run-dir run/cluster]');
    return 2;
  }
  const log = (line: string) => console.log(`[cluster] ${line}`);

  // Handlers first: a Ctrl-C or cluster:stop during the start-up is honoured as soon as the start-up returns.
  let cluster: Cluster | undefined;
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    if (shuttingDown) {
      log(`${signal} again: killing everything now`);
      for (const p of cluster ? [cluster.nginx, ...cluster.replicas] : []) if (!p.exit) process.kill(p.pid, 'SIGKILL');
      process.exit(1);
    }
    shuttingDown = true;
    if (!cluster) {
      log(`${signal}: stopping as soon as the start-up returns`);
      return;
    }
    log(`${signal}: stopping (nginx drains, then replicas finish in-flight requests)`);
    cluster.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  cluster = await startCluster({
    replicas: intFlag(flags, 'replicas'),
    port: intFlag(flags, 'port'),
    basePort: intFlag(flags, 'base-port'),
    metricsBasePort: intFlag(flags, 'metrics-base-port'),
    host: typeof flags.get('host') === 'string' ? (flags.get('host') as string) : undefined,
    runDir,
    build: flags.has('no-build') ? 'never' : 'auto',
    restartCrashed: !flags.has('no-restart'),
    log,
  });
  if (shuttingDown) {
    await cluster.stop();
    return 0;
  }
  const up = cluster;
  log(`up: ${up.url}/graphql (logs in ${path.relative(root, runDir) || runDir}/logs); Ctrl-C or npm run cluster:stop to stop`);

  up.nginx.exited.then((info) => {
    if (!shuttingDown) {
      log(`nginx exited unexpectedly (code ${info.code}, signal ${info.signal}); see ${path.join(runDir, 'logs', 'nginx-error.log')}`);
      shutdown('nginx exit');
    }
  });

  const tty = process.stdout.isTTY;
  let previous = '';
  const tick = async () => {
    if (shuttingDown) return;
    const line = await statusLine(up);
    const summary = line.slice(9); // without the clock
    if (tty) process.stdout.write(`\r\x1b[K${line}`);
    else if (summary !== previous) console.log(line);
    previous = summary;
  };
  await tick();
  const timer = setInterval(() => void tick(), 2_000);
  process.once('exit', () => {
    clearInterval(timer);
    if (tty) process.stdout.write('\n');
  });
  return new Promise<number>(() => {}); // runs until a signal
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      console.error(`[cluster] ${err.message}`);
      process.exit(1);
    },
  );
}
