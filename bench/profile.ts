/**
 * A CPU profile of one API replica under load: `node --cpu-prof dist/src/server.js` (built first if stale), an
 * autocannon run against it, SIGTERM (the server exits 0 and V8 writes the profile), then the top self-time
 * functions and the time per package.
 *
 *   npm run bench:profile                              bulk: scoreApplications of 100, 8 connections, 10 s
 *   npm run bench:profile -- --items 1000 --connections 4 --duration 10
 *   npm run bench:profile -- --single --connections 64
 *   AUDIT=off BATCH_WINDOW_MS=0 npm run bench:profile  (server knobs come from the environment)
 *
 * The server runs with production's environment (NODE_ENV=production, MALLOC_ARENA_MAX=2), as every benchmark server does.
 *
 * Writes bench/results/profile-<label>-<timestamp>.cpuprofile (the main thread; worker threads, such as the audit
 * writer, as ...-thread<N>.cpuprofile; gitignored; open them in Chrome DevTools or VS Code) and prints the same
 * tables as `npm run bench:top -- <file>`. Options: --items N, --single,
 * --connections N, --duration S, --top N, --interval µs (sampling interval, default V8's 1000), --label text.
 */
import { readdirSync, renameSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureBuild } from '../scripts/cluster.js';
import { repoRoot } from '../scripts/nginx-config.js';
import { formatTop, readProfile } from './cpuprofile-top.js';
import { bulkBody, isBulkDecisions, isSingleDecision, runLoad, singleBody, verifyOnce } from './lib/load.js';
import { startProcess, tempDir } from './lib/proc.js';

function flag(name: string): string | undefined {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

const root = repoRoot();
const single = process.argv.includes('--single');
const items = single ? 1 : Number(flag('items') ?? 100);
const connections = Number(flag('connections') ?? (single ? 64 : 8));
const durationS = Number(flag('duration') ?? 10);
const top = Number(flag('top') ?? 30);
const interval = flag('interval');
const label = flag('label') ?? (single ? `single-c${connections}` : `bulk${items}-c${connections}`);
for (const [name, v] of Object.entries({ items, connections, duration: durationS, top })) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
}

ensureBuild(root, 'auto', undefined, (l) => console.log(l));
const outDir = path.join(root, 'bench', 'results');
await mkdir(outDir, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const name = `profile-${label}-${stamp}`;
// V8 writes one profile per thread (the audit writer is a worker thread): a folder of its own, renamed after exit
const profDir = path.join(outDir, `${name}.tmp`);
await mkdir(profDir, { recursive: true });

const server = await startProcess({
  label: 'profiled-server',
  cwd: root,
  args: [
    '--cpu-prof',
    '--cpu-prof-dir',
    path.relative(root, profDir),
    ...(interval ? ['--cpu-prof-interval', interval] : []),
    'dist/src/server.js',
  ],
  // profiled as production runs (npm start, the image), whatever the shell says
  env: { ...process.env, NODE_ENV: 'production', MALLOC_ARENA_MAX: '2', LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn', DATA_DIR: tempDir('profile-data'), SHUTDOWN_GRACE_MS: '0' },
});
try {
  const body = single ? singleBody() : bulkBody(items);
  await verifyOnce(server.url, body, items, single ? 'single' : 'bulk');
  console.log(`profiling pid ${server.pid}: ${single ? 'scoreApplication' : `scoreApplications × ${items}`}, ${connections} connections, ${durationS} s`);
  const result = await runLoad({ url: server.url, body, items, connections, durationS, check: single ? isSingleDecision : isBulkDecisions });
  console.log(
    `${Math.round(result.requestsPerSecond)} requests/s, ${Math.round(result.applicationsPerSecond)} applications/s, ` +
      `p50 ${result.latency.p50.toFixed(1)} ms, p99 ${result.latency.p99.toFixed(1)} ms, failed ${result.failed}`,
  );
} finally {
  await server.stop(30_000);
}
// CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile: thread 0 is the main thread
const written = readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile'));
if (written.length === 0) throw new Error(`no profile was written to ${path.relative(root, profDir)}`);
const threadOf = (f: string) => Number(f.split('.').at(-3));
const files: string[] = [];
for (const f of written.sort((a, b) => threadOf(a) - threadOf(b))) {
  const thread = threadOf(f);
  const dest = path.join(outDir, thread === 0 ? `${name}.cpuprofile` : `${name}-thread${thread}.cpuprofile`);
  renameSync(path.join(profDir, f), dest);
  files.push(dest);
}
rmSync(profDir, { recursive: true, force: true });
for (const file of files) {
  const rel = path.relative(root, file);
  console.log(`\n${formatTop(readProfile(file), file === files[0] ? top : 10, `### ${rel}${file === files[0] ? ' (main thread)' : ' (worker thread)'}`)}`);
}
