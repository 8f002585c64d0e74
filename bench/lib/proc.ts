/**
 * Server processes for the benchmarks: spawned with their own environment and temp folder, timed from spawn to
 * `/ready` 200, sampled for resident memory, and stopped by pid (SIGTERM, then SIGKILL after a grace period).
 * Every pid started here is also killed if the bench process exits early.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../test/helpers/process.js';

/** pids to SIGKILL if the bench exits while they run */
const live = new Set<number>();
const tempDirs = new Set<string>();

process.once('exit', () => {
  for (const pid of live) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Processes started elsewhere (startCluster) that the exit handler should kill too; unregister once stopped. */
export function registerPid(pid: number): void {
  live.add(pid);
}

export function unregisterPid(pid: number): void {
  live.delete(pid);
}

/** A folder made elsewhere that goes when the bench exits. */
export function registerTempDir(dir: string): void {
  tempDirs.add(dir);
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `loan-bench-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

export { freePort };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** VmRSS of a pid in MB (1 MB = 2^20 bytes), or undefined once it is gone. */
export function rssMB(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples the RSS of some pids every `everyMs` until stopped; returns the largest value seen per pid. */
export function sampleRss(pids: number[], everyMs = 100): { stop(): Record<number, number> } {
  const max: Record<number, number> = {};
  const tick = () => {
    for (const pid of pids) {
      const v = rssMB(pid);
      if (v !== undefined && v > (max[pid] ?? 0)) max[pid] = v;
    }
  };
  tick();
  const timer = setInterval(tick, everyMs);
  return {
    stop() {
      clearInterval(timer);
      tick();
      return max;
    },
  };
}

export interface BenchProcess {
  label: string;
  pid: number;
  url: string;
  /** its METRICS_PORT listener (the API's /metrics is never on its public port) */
  metricsUrl: string;
  /** spawn → first /ready 200, ms */
  readyMs: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** the last lines of its output */
  logTail(): string;
  /** how it exited, once it has; `unexpected` when stop() was not called first */
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null; unexpected: boolean } | undefined;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  label: string;
  /** node arguments, e.g. ['dist/src/server.js'] */
  args: string[];
  /** the full environment, PORT, METRICS_PORT and HOST are added */
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** @default 60 s */
  readyTimeoutMs?: number;
  /** folder for its log file (a temp folder when not given) */
  logDir?: string;
  /** called when it exits without stop() having been called (crashed, or killed by someone else) */
  onUnexpectedExit?: (info: { code: number | null; signal: NodeJS.Signals | null }, logTail: string) => void;
}

export async function startProcess(options: StartOptions): Promise<BenchProcess> {
  const port = await freePort();
  const metricsPort = await freePort();
  const logDir = options.logDir ?? tempDir('log');
  const logFile = path.join(logDir, `${options.label.replace(/[^\w.-]+/g, '_')}.log`);
  const fd = openSync(logFile, 'a');
  const started = performance.now();
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, options.args, {
      cwd: options.cwd,
      env: { ...options.env, PORT: String(port), METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' },
      stdio: ['ignore', fd, fd],
    });
  } finally {
    closeSync(fd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.label}: spawn failed`);
  live.add(pid);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null; unexpected: boolean } | undefined;
  let stopping: Promise<void> | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal, unexpected: stopping === undefined };
      live.delete(pid);
      if (exitInfo.unexpected) options.onUnexpectedExit?.(exitInfo, logTail());
      resolve(exitInfo);
    }),
  );
  function logTail() {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  }
  const stop = (graceMs = 10_000) =>
    (stopping ??= (async () => {
      if (exitInfo) return;
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (!exitInfo) process.kill(pid, 'SIGKILL');
      }, graceMs);
      await exited;
      clearTimeout(timer);
    })());

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  for (;;) {
    if (exitInfo) throw new Error(`${options.label} exited (${exitInfo.code ?? exitInfo.signal}) before it was ready:\n${logTail()}`);
    try {
      const res = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1_000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop(1_000);
      throw new Error(`${options.label} not ready within ${options.readyTimeoutMs ?? 60_000} ms:\n${logTail()}`);
    }
    await sleep(10);
  }
  const readyMs = performance.now() - started;
  const metricsUrl = `http://127.0.0.1:${metricsPort}`;
  return { label: options.label, pid, url, metricsUrl, readyMs, exited, logTail, exitInfo: () => exitInfo, stop };
}

/** pid and its descendants (Linux /proc/<pid>/task/<tid>/children), e.g. nginx's workers */
export function withDescendants(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      for (const tid of readdirSync(`/proc/${out[i]}/task`)) {
        const children = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        if (children) out.push(...children.split(/\s+/).map(Number));
      }
    } catch {
      // gone, or no children file
    }
  }
  return out;
}

interface CpuSnapshot {
  /** jiffies the whole machine spent busy / in all */
  busy: number;
  total: number;
  /** jiffies spent so far by each of the processes under test and the bench itself */
  ours: Map<number, number>;
}

function cpuSnapshot(pids: number[]): CpuSnapshot {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields;
  const ours = new Map<number, number>();
  for (const pid of new Set([process.pid, ...pids])) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ours.set(pid, Number(rest[11]) + Number(rest[12])); // utime, stime
    } catch {
      // gone
    }
  }
  return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal, ours };
}

/**
 * Measures how much CPU the rest of the machine used while something ran: cores busy with processes other than
 * the bench and `pids` (other people's work on a shared machine), averaged over the interval.
 */
export function watchForeignCpu(pids: number[]): { stop(): { foreignCores: number; busyCores: number } } {
  const cores = os.cpus().length;
  const a = cpuSnapshot(pids);
  return {
    stop() {
      const b = cpuSnapshot(pids);
      const total = b.total - a.total || 1;
      const busy = b.busy - a.busy;
      // a process that exited in between is left out (its last jiffies are unknown)
      let oursDelta = 0;
      for (const [pid, jiffies] of b.ours) if (a.ours.has(pid)) oursDelta += jiffies - a.ours.get(pid)!;
      const foreign = Math.min(busy, Math.max(0, busy - oursDelta));
      return { foreignCores: (foreign / total) * cores, busyCores: (busy / total) * cores };
    },
  };
}

/**
 * Measures the cores each group of processes kept busy while something ran (e.g. replicas, nginx, PostgreSQL, the
 * load generator), from their /proc jiffies against the machine's: where the CPU of a run went. `groups` is asked
 * again at the end: a process born meanwhile (a new database connection) counts with all of its CPU.
 */
export function watchCpu(groups: () => Record<string, number[]>): { stop(): Record<string, number> } {
  const cores = os.cpus().length;
  const a = cpuSnapshot(Object.values(groups()).flat());
  return {
    stop() {
      const now = groups();
      const b = cpuSnapshot(Object.values(now).flat());
      const total = b.total - a.total || 1;
      const out: Record<string, number> = {};
      for (const [name, pids] of Object.entries(now)) {
        let jiffies = 0;
        for (const pid of new Set(pids)) if (b.ours.has(pid)) jiffies += b.ours.get(pid)! - (a.ours.get(pid) ?? 0);
        out[name] = (jiffies / total) * cores;
      }
      return out;
    },
  };
}
