/**
 * The seed's design, measured beside ours: the FastAPI + scikit-learn reproduction in the peer folder
 * (`../shared/peers/fastapi-seed` from the repository root, or SEED_DIR), three uvicorn replicas behind nginx,
 * started with its own `run.sh` and stopped here by the pids `run.sh` saved (never by process name).
 *
 * Nothing of the seed is copied into the project: its code, model and start script stay in its folder. What lives
 * here is how to tell whether it can run on this machine, and how to send it the same applications we send our API,
 * in its field names (its `src/features.py` and `src/inference.py`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { LoanApplication } from '../../src/model/application.js';
import { registerPid, rssMB, tempDir, unregisterPid, withDescendants } from './proc.js';

/** The ports `run.sh` hard-codes: nginx on the first, the replicas on the others. */
export const SEED_PORTS = { nginx: 9100, replicas: [9101, 9102, 9103] } as const;

/** Its Debian packages (its README's Setup), named when one is missing. */
const PYTHON_MODULES: Record<string, string> = {
  fastapi: 'python3-fastapi',
  uvicorn: 'python3-uvicorn',
  sklearn: 'python3-sklearn',
  joblib: 'python3-joblib',
  pandas: 'python3-pandas',
};

/** Where the seed lives: SEED_DIR, else `../shared/peers/fastapi-seed` beside the repository. */
export function seedDir(root: string): string {
  return path.resolve(root, process.env.SEED_DIR ?? path.join('..', 'shared', 'peers', 'fastapi-seed'));
}

export type SeedAvailability =
  | { available: true; dir: string; python: string; versions: Record<string, string> }
  | { available: false; dir: string; reason: string };

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Whether the seed can be started here, and if not, why (said in the bench's output and BENCHMARKS.md: the
 * comparison is never made against remembered numbers instead).
 */
export async function seedAvailability(root: string): Promise<SeedAvailability> {
  const dir = seedDir(root);
  const no = (reason: string): SeedAvailability => ({ available: false, dir, reason });
  for (const f of ['run.sh', 'src/inference.py', 'src/features.py', 'models/model.joblib']) {
    if (!existsSync(path.join(dir, f))) return no(`${path.relative(root, path.join(dir, f))} not found (set SEED_DIR to the seed's folder)`);
  }
  // the same defaults as run.sh
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  const nginx = process.env.NGINX_BIN ?? '/usr/sbin/nginx';
  if (!existsSync(python)) return no(`${python} not found (the seed runs on Debian's python3 and its apt packages)`);
  if (!existsSync(nginx)) return no(`${nginx} not found (apt-get install nginx)`);
  if (spawnSync('curl', ['--version'], { encoding: 'utf8' }).status !== 0) return no('curl not found (run.sh waits for /health with it)');
  const probe = spawnSync(
    python,
    ['-c', `import importlib,sys\nfor m in ${JSON.stringify(Object.keys(PYTHON_MODULES))}:\n    try:\n        print(m, importlib.import_module(m).__version__)\n    except ImportError:\n        print(m, 'MISSING')`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (probe.status !== 0) return no(`${python} could not be run: ${(probe.stderr || probe.error?.message || '').trim().slice(0, 200)}`);
  const versions: Record<string, string> = {};
  for (const line of probe.stdout.trim().split('\n')) {
    const [m, v] = line.split(' ');
    versions[m] = v;
  }
  const missing = Object.keys(PYTHON_MODULES).filter((m) => !versions[m] || versions[m] === 'MISSING');
  if (missing.length) {
    return no(`Python module(s) ${missing.join(', ')} missing (apt-get install -y ${missing.map((m) => PYTHON_MODULES[m]).join(' ')})`);
  }
  versions.python = spawnSync(python, ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim();
  for (const port of [SEED_PORTS.nginx, ...SEED_PORTS.replicas]) {
    // run.sh's ports are fixed: another copy of the seed (or anything else) there would be measured instead
    if (!(await portFree(port))) return no(`port ${port}, which run.sh hard-codes, is in use (another copy of the seed running?)`);
  }
  return { available: true, dir, python, versions };
}

export interface SeedProc {
  name: 'uvicorn' | 'nginx';
  port: number;
  pid: number;
}

export interface Seed {
  url: string;
  /** the three uvicorn replicas */
  replicas: SeedProc[];
  nginx: SeedProc;
  /** nginx's workers, found once at start so they can be killed by pid if the master is not */
  nginxWorkers: number[];
  /** why it cannot be measured any more (a process exited), or undefined */
  gone(): string | undefined;
  /** nginx QUIT, replicas TERM; KILL after 5 s: by the pids run.sh saved. Idempotent. */
  stop(): Promise<void>;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** A zombie (exited, not yet reaped: run.sh's children are reparented) counts as gone. */
const running = (pid: number) => {
  if (!alive(pid)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stopPid(pid: number, signal: NodeJS.Signals): Promise<void> {
  if (!running(pid)) return;
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  for (let i = 0; i < 50 && running(pid); i++) await sleep(100);
  if (running(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Starts the seed with its run.sh (RUN_DIR a temp folder of ours); throws with run.sh's output if it fails. */
export async function startSeed(dir: string, log: (line: string) => void): Promise<Seed> {
  const runDir = tempDir('seed');
  // run.sh's nginx runs its workers as www-data, which must reach the request-body temp files under RUN_DIR
  // (its default /tmp/fastapi-seed is 0755 too); a 0700 temp folder makes every buffered bulk body a 500
  chmodSync(runDir, 0o755);
  const logFile = path.join(runDir, 'run-sh.log');
  const fd = openSync(logFile, 'a');
  let code: number | null;
  try {
    const child = spawn('bash', [path.join(dir, 'run.sh')], {
      cwd: dir,
      // PYTHONDONTWRITEBYTECODE: leave the shared peer folder as it was (no __pycache__)
      env: { ...process.env, RUN_DIR: runDir, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', fd, fd],
      // its own process group: a Ctrl-C reaches the bench, whose exit handler then kills the seed's pids
      detached: true,
    });
    code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  } finally {
    closeSync(fd);
  }
  const pidFile = path.join(runDir, 'pids');
  const procs: SeedProc[] = existsSync(pidFile)
    ? readFileSync(pidFile, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [name, port, pid] = line.trim().split(/\s+/);
          return { name: name as SeedProc['name'], port: Number(port), pid: Number(pid) };
        })
    : [];
  for (const p of procs) registerPid(p.pid);
  const replicas = procs.filter((p) => p.name === 'uvicorn');
  const nginx = procs.find((p) => p.name === 'nginx');
  const nginxWorkers = nginx ? withDescendants(nginx.pid).slice(1) : [];
  for (const pid of nginxWorkers) registerPid(pid);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // as its stop.sh does, nginx first (graceful QUIT), then the replicas (TERM); but by our own pids
      if (nginx) await stopPid(nginx.pid, 'SIGQUIT');
      for (const pid of nginxWorkers) await stopPid(pid, 'SIGKILL');
      await Promise.all(replicas.map((r) => stopPid(r.pid, 'SIGTERM')));
      for (const p of procs) unregisterPid(p.pid);
      for (const pid of nginxWorkers) unregisterPid(pid);
    })());

  if (code !== 0 || !nginx || replicas.length !== SEED_PORTS.replicas.length) {
    const out = readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n');
    await stop();
    throw new Error(`the seed's run.sh failed (exit ${code}, ${procs.length} pid(s) saved):\n${out}`);
  }
  log(`started the seed: nginx pid ${nginx.pid} on :${nginx.port}, uvicorn pids ${replicas.map((r) => `${r.pid} on :${r.port}`).join(', ')}`);
  return {
    url: `http://127.0.0.1:${nginx.port}`,
    replicas,
    nginx,
    nginxWorkers,
    gone: () => {
      const dead = [nginx, ...replicas].filter((p) => !running(p.pid));
      return dead.length ? dead.map((p) => `seed ${p.name} :${p.port} (pid ${p.pid}) exited`).join('; ') : undefined;
    },
    stop,
  };
}

/** Resident memory of the seed's replicas, MB (for the table beside ours). */
export const seedRssMB = (seed: Seed): number[] => seed.replicas.map((r) => rssMB(r.pid) ?? NaN);

// ---------------------------------------------------------------------------------------------------------------
// the same applications, in the seed's field names

/**
 * The seed's loan purposes are not ours: AUTO is its major_purchase, BUSINESS its small_business, and it has no
 * EDUCATION (other). Home ownership values are the same.
 */
const SEED_PURPOSE: Record<LoanApplication['loanPurpose'], string> = {
  DEBT_CONSOLIDATION: 'debt_consolidation',
  CREDIT_CARD: 'credit_card',
  HOME_IMPROVEMENT: 'home_improvement',
  AUTO: 'major_purchase',
  BUSINESS: 'small_business',
  MEDICAL: 'medical',
  EDUCATION: 'other',
  OTHER: 'other',
};

/** One of our applications as the seed's `LoanApplication` (it has no revolving utilisation or reference). */
export function toSeedApplication(a: LoanApplication): Record<string, number | string> {
  return {
    annual_income: a.annualIncome,
    monthly_debt: a.monthlyDebt,
    loan_amount: a.loanAmount,
    loan_term_months: a.loanTermMonths,
    credit_score: a.creditScore,
    employment_years: a.employmentYears,
    open_credit_lines: a.openCreditLines,
    delinquencies_2y: a.delinquencies2y,
    home_ownership: a.homeOwnership,
    loan_purpose: SEED_PURPOSE[a.loanPurpose],
  };
}

export const SEED_SINGLE_PATH = '/predict';
export const SEED_BULK_PATH = '/predict_batch';
