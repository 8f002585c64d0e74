#!/usr/bin/env bash
# The vitest suites under the Node.js release the image ships. The version is read from the Dockerfile's
# `ARG NODE_IMAGE=node:X.Y.Z-…` line (LTS_NODE_VERSION overrides it); the binary and its headers come from the npm
# registry's node-linux-<arch> package, so nothing but the registry is needed. It runs in a temporary copy of the
# work tree (tracked and untracked files, not ignored ones), where `npm ci` builds the native addon (better-sqlite3)
# against that release's headers, as the image's `npm ci` does; this checkout's node_modules are left alone.
#
#   npm run test:lts                             every vitest suite (CI runs this after `npm test`)
#   npm run test:lts -- test/api.test.ts         only these: the arguments go to `vitest run`
#   LTS_NODE_VERSION=26.12.1 npm run test:lts    another release, to try a move before making it
set -euo pipefail
cd "$(dirname "$0")/.."

version=${LTS_NODE_VERSION:-$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9]*\.[0-9]*\.[0-9]*\)-.*/\1/p' Dockerfile)}
if ! [[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "test-on-lts: no exact node:X.Y.Z version in the Dockerfile's ARG NODE_IMAGE (nor in LTS_NODE_VERSION)" >&2
  exit 1
fi
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "test-on-lts: the npm registry has no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/test-on-lts.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "test-on-lts: Node $version (node-linux-$arch from the npm registry)"
if ! (cd "$work" && npm pack --silent "node-linux-$arch@$version" >/dev/null); then
  echo "test-on-lts: the npm registry has no node-linux-$arch@$version (npm view node-linux-$arch versions)" >&2
  exit 1
fi
nodedir=$work/node
mkdir "$nodedir"
tar -xzf "$work/node-linux-$arch-$version.tgz" -C "$nodedir" --strip-components=1
# node-gyp builds against $nodedir/include/node when npm_config_nodedir names the folder: the package carries them
for f in bin/node include/node/node.h include/node/common.gypi; do
  [ -e "$nodedir/$f" ] || { echo "test-on-lts: node-linux-$arch@$version has no $f" >&2; exit 1; }
done

# the work tree as it is (uncommitted changes included), without node_modules, dist/ or local data
mkdir "$work/app"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -xf - -C "$work/app"
cd "$work/app"

export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" ONNXRUNTIME_NODE_INSTALL=skip
if [ "$(node --version)" != "v$version" ]; then
  echo "test-on-lts: node on PATH is $(node --version), not v$version" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
# both native addons load under this release before any suite starts
node -e '
const Database = require("better-sqlite3");
const ort = require("onnxruntime-node");
const sqlite = new Database(":memory:").prepare("select sqlite_version() as v").get().v;
const v = (name) => require(`${name}/package.json`).version;
console.log(`test-on-lts: node ${process.version} (modules ABI ${process.versions.modules}), better-sqlite3 ${v("better-sqlite3")} (SQLite ${sqlite}), onnxruntime-node ${v("onnxruntime-node")} (${ort.listSupportedBackends().map((b) => b.name).join(", ")})`);
'
node_modules/.bin/vitest run "$@"
echo "test-on-lts: Node $version done in ${SECONDS}s"
