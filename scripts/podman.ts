/**
 * Podman as a Docker engine for `npm run image:test` (scripts/image-test.ts), on a machine with Debian's podman and
 * docker-compose and no Docker: the tools it needs, podman's settings for such a machine, commands run with their
 * output kept, podman's Docker-compatible API socket for docker-compose, and the health checks no systemd runs.
 *
 * The settings live in a containers.conf of our own (CONTAINERS_CONF), so the machine's files stay as they are:
 *   runtime = "runc"              crun is not what Debian's podman installs with it
 *   cgroup_manager = "cgroupfs"   no systemd here to ask for cgroups
 *   events_logger = "file"        no journald either
 *   default_ulimits = []          podman's default raises the open-files limit above what such machines allow
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

/** Debian packages of the binaries image:test runs. */
export const TOOLS: Record<string, string> = {
  podman: 'podman',
  runc: 'runc',
  debootstrap: 'debootstrap',
  'docker-compose': 'docker-compose',
};

export function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && existsSync(path.join(dir, bin)));
}

/**
 * Installs the missing tools with apt-get when running as root (as .ci/run does); otherwise throws with the command
 * to run.
 */
export function ensureTools(log: (line: string) => void): void {
  const missing = [...new Set(Object.entries(TOOLS).filter(([bin]) => !onPath(bin)).map(([, pkg]) => pkg))];
  if (missing.length === 0) return;
  const command = `apt-get install --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(', ')}: run as root, or install them first: sudo ${command}`);
  log(`installing ${missing.join(', ')} (${command})`);
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...missing]]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
}

/** Writes our containers.conf into `dir` and returns the environment that makes podman read it. */
export function podmanEnvironment(dir: string): NodeJS.ProcessEnv {
  const file = path.join(dir, 'containers.conf');
  writeFileSync(
    file,
    [
      '# written by scripts/podman.ts for npm run image:test',
      '[containers]',
      'default_ulimits = []',
      '[engine]',
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      '',
    ].join('\n'),
  );
  return { ...process.env, CONTAINERS_CONF: file };
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** the full output (stdout and stderr) is appended here */
  logFile?: string;
  /** @default 10 minutes */
  timeoutMs?: number;
  /** resolve with the exit code instead of rejecting on a non-zero one */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; rejects on a non-zero exit with the command and the tail of its output. */
export function run(bin: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = options.logFile ? createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    log?.write(`\n$ ${bin} ${args.join(' ')}\n`);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
      log?.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
      log?.write(chunk);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      log?.end();
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log?.end();
      const result = { code: code ?? 128, stdout, stderr };
      if (result.code === 0 || options.allowFailure) resolve(result);
      else {
        const tail = `${stdout}${stderr}`.trim().split('\n').slice(-15).join('\n');
        reject(new Error(`${bin} ${args.join(' ')} exited ${signal ?? code}${options.logFile ? ` (log: ${options.logFile})` : ''}\n${tail}`));
      }
    });
  });
}

function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = http.get({ socketPath, path: '/_ping', timeout: 1_000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

export interface PodmanService {
  pid: number;
  /** DOCKER_HOST for docker-compose */
  dockerHost: string;
  /** SIGTERM to this service's pid, then waits for it to exit */
  stop(): Promise<void>;
}

/** `podman system service` on a socket of our own: the Docker API that docker-compose talks to. */
export async function startPodmanService(socketPath: string, env: NodeJS.ProcessEnv, logFile: string): Promise<PodmanService> {
  const log = createWriteStream(logFile, { flags: 'a' });
  const child = spawn('podman', ['system', 'service', '--time=0', `unix://${socketPath}`], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
  };
  const deadline = Date.now() + 30_000;
  while (!(await ping(socketPath))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`podman system service did not answer on ${socketPath} (log: ${logFile})`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { pid: child.pid!, dockerHost: `unix://${socketPath}`, stop };
}

/**
 * Runs `podman healthcheck run` on every running container of a compose project, every `intervalMs`, until stopped:
 * podman schedules health checks with systemd timers, and without systemd nothing else would run them, so
 * docker-compose would wait for `service_healthy` forever.
 */
export function runHealthChecks(project: string, env: NodeJS.ProcessEnv, intervalMs = 2_000): { stop(): Promise<void> } {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const ps = await run('podman', ['ps', '--filter', `label=com.docker.compose.project=${project}`, '--format', '{{.ID}}'], { env, allowFailure: true });
      const ids = ps.stdout.split('\n').filter(Boolean);
      // a container without a health check answers with an error: nothing to do for it
      await Promise.all(ids.map((id) => run('podman', ['healthcheck', 'run', id], { env, allowFailure: true, timeoutMs: 30_000 })));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}
