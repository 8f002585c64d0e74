import { createServer } from 'node:http';
import { ConfigError, parseConfig, type Config } from './config.js';
import { createLogger } from './logger.js';
import { metricsListener } from './plugins/metrics.js';
import { createApp, type App } from './app.js';
import { describeDatabaseUrl } from './decisions/audit/postgres-store.js';
import { ChallengerLoadError } from './model-reload.js';

/** where the trail is, as a log may say it: never a user or a password */
const auditLocation = (config: Config) => (config.audit.databaseUrl ? describeDatabaseUrl(config.audit.databaseUrl) : config.audit.file);

let config: Config;
try {
  config = parseConfig(process.env);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
let app: App;
try {
  app = createApp(config, logger);
} catch (error) {
  logger.fatal({ err: error }, 'cannot start');
  process.exit(1);
}
const server = createServer(
  {
    // a request (headers and body) must arrive within this, or its socket is closed (408): no slow-loris holds a socket
    requestTimeout: config.http.serverRequestTimeoutMs,
    headersTimeout: config.http.serverRequestTimeoutMs,
    // how often Node checks those timeouts (its default, 30 s, would let a request live up to twice the limit)
    connectionsCheckingInterval: 1_000,
  },
  app.yoga,
);
// Above nginx's upstream keepalive_timeout (60 s), so the proxy, not Node, closes idle connections.
server.keepAliveTimeout = 65_000;
// Beyond this many open sockets, new connections are closed at once rather than starving the event loop.
server.maxConnections = config.http.maxConnections;

const metricsServer = metricsListener(app.metrics.registry);
metricsServer.on('error', (error: NodeJS.ErrnoException) => {
  const hint = error.code === 'EADDRINUSE' ? `: port ${config.http.metricsPort} is in use (set METRICS_PORT to another one)` : '';
  logger.fatal({ err: error }, `cannot listen for metrics${hint}`);
  process.exit(1);
});
metricsServer.listen(config.http.metricsPort, config.http.metricsHost);

server.on('error', (error: NodeJS.ErrnoException) => {
  const hint = error.code === 'EADDRINUSE' ? `: port ${config.http.port} is in use (set PORT to another one)` : '';
  logger.fatal({ err: error }, `cannot listen${hint}`);
  process.exit(1);
});

server.listen(config.http.port, config.http.host, () => {
  logger.info(
    { port: config.http.port, host: config.http.host, metricsPort: config.http.metricsPort, replica: config.http.replicaId },
    'listening',
  );
});

// Like a bad model, an audit database that cannot be reached or migrated stops the start, with one clear message.
app.openAudit().then(
  () => logger.info({ auditStore: app.audit?.kind ?? 'off', at: auditLocation(config) }, 'audit trail open'),
  (error: unknown) => {
    logger.fatal({ err: error }, 'audit trail could not be opened');
    process.exit(1);
  },
);
app.loadModel().catch((error: unknown) => {
  logger.fatal({ err: error }, error instanceof ChallengerLoadError ? 'challenger model could not be loaded' : 'model could not be loaded');
  process.exit(1);
});

let stopping = false;
function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  logger.info({ signal, graceMs: config.http.shutdownGraceMs }, 'draining');
  // Unready first, listener open a moment longer: connections already queued in the kernel's accept backlog are
  // served instead of reset, and a proxy that still sends here is answered rather than refused.
  app.state.draining = true;
  const force = setTimeout(() => {
    logger.error('in-flight requests did not finish in time');
    process.exit(1);
  }, config.http.shutdownGraceMs + config.http.shutdownTimeoutMs);
  force.unref();
  setTimeout(() => {
    app.state.refusing = true;
    metricsServer.close();
    server.close(() => {
      // Every answered decision is already committed; closing checkpoints the audit database and stops its writer.
      app.close().then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'could not close cleanly');
          process.exit(1);
        },
      );
    });
    server.closeIdleConnections();
  }, config.http.shutdownGraceMs);
}

process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));

// SIGHUP: hot-swap the model from the configured directory (MODEL_DIR_FILE's content when set, else MODEL_DIR), and
// the challenger from CHALLENGER_MODEL_DIR_FILE's (an empty file clears it), else CHALLENGER_MODEL_DIR. A directory
// that fails validation is refused (logged) and the old models keep serving, both of them.
process.on('SIGHUP', () => {
  if (stopping || !app.state.model) return;
  logger.info('SIGHUP: reloading the model and the challenger');
  app.loadModel().catch(() => undefined);
});
