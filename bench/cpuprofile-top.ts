/**
 * The top self-time functions of a V8 .cpuprofile (as written by `node --cpu-prof`), and the same time grouped by
 * package (node_modules/<name>, node: internals, the project's own files, GC, idle), for recording hot-path
 * profiles before and after a change in BENCHMARKS.md.
 *
 *   npm run bench:top -- bench/results/<name>.cpuprofile [--top 25] [--group "node: internals"]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  where: string;
  group: string;
  ms: number;
  share: number;
}

/** A stable, machine-independent label for a script URL: node_modules/<pkg>/..., the repo-relative path, node:... */
function shortUrl(url: string): string {
  if (!url) return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('/node_modules/');
  if (nm >= 0) return clean.slice(nm + 1);
  for (const marker of ['/dist/', '/src/', '/bench/', '/scripts/', '/test/']) {
    const at = clean.lastIndexOf(marker);
    if (at >= 0) return clean.slice(at + 1);
  }
  return clean.startsWith('node:') ? clean : path.basename(clean);
}

function groupOf(frame: CallFrame): string {
  const name = frame.functionName;
  if (name === '(garbage collector)') return '(garbage collector)';
  if (name === '(idle)') return '(idle)';
  if (name === '(program)') return '(program: native, not attributed)';
  if (name === '(root)') return '(root)';
  const url = frame.url.replace(/^file:\/\//, '');
  if (!url) return '(native / builtins)';
  if (url.startsWith('node:')) return 'node: internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const own = shortUrl(frame.url);
  const parts = own.split('/');
  // dist/src/model/x.js → project: src/model
  return `project: ${parts.slice(parts[0] === 'dist' ? 1 : 0, -1).join('/') || own}`;
}

export function selfTimes(profile: CpuProfile): { totalMs: number; byFunction: SelfTime[]; byGroup: Array<{ group: string; ms: number; share: number }> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0) || 1;
  const fn = new Map<string, SelfTime>();
  const groups = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)!.callFrame;
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '';
    const key = `${frame.functionName}|${where}`;
    const group = groupOf(frame);
    const entry = fn.get(key) ?? { name: frame.functionName || '(anonymous)', where, group, ms: 0, share: 0 };
    entry.ms += us / 1000;
    fn.set(key, entry);
    groups.set(group, (groups.get(group) ?? 0) + us / 1000);
  }
  const totalMs = totalUs / 1000;
  const byFunction = [...fn.values()].map((e) => ({ ...e, share: e.ms / totalMs })).sort((a, b) => b.ms - a.ms);
  const byGroup = [...groups].map(([group, ms]) => ({ group, ms, share: ms / totalMs })).sort((a, b) => b.ms - a.ms);
  return { totalMs, byFunction, byGroup };
}

/** Markdown tables: the top `top` functions by self time (of one package/group only, when given), and self time by package. */
export function formatTop(profile: CpuProfile, top = 25, title = '', group?: string): string {
  const all = selfTimes(profile);
  const { totalMs, byGroup } = all;
  const byFunction = group ? all.byFunction.filter((f) => f.group === group) : all.byFunction;
  const busyMs = totalMs - (byGroup.find((g) => g.group === '(idle)')?.ms ?? 0);
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  return [
    title,
    `sampled ${(totalMs / 1000).toFixed(1)} s, of which not idle ${(busyMs / 1000).toFixed(1)} s (${pct(busyMs / totalMs)}); shares are of all samples`,
    '',
    '| self ms | share | function | where | package |',
    '|---:|---:|---|---|---|',
    ...byFunction.slice(0, top).map((f) => `| ${f.ms.toFixed(0)} | ${pct(f.share)} | \`${f.name}\` | ${f.where} | ${f.group} |`),
    '',
    '| self ms | share | package / group |',
    '|---:|---:|---|',
    ...byGroup.slice(0, 20).map((g) => `| ${g.ms.toFixed(0)} | ${pct(g.share)} | ${g.group} |`),
  ]
    .filter((l, i) => i > 0 || l !== '')
    .join('\n');
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const files: string[] = [];
  let top = 25;
  let group: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--group') group = args[++i];
    else files.push(args[i]);
  }
  if (files.length === 0) {
    console.error('usage: npm run bench:top -- <file.cpuprofile> [more.cpuprofile] [--top 25] [--group "node: internals"]');
    process.exit(2);
  }
  for (const file of files) console.log(`${formatTop(readProfile(file), top, `### ${path.basename(file)}${group ? ` (functions of ${group})` : ''}`, group)}\n`);
}
