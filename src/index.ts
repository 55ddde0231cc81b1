import { createApp, createServices, maxRequestBytes } from './app.ts';
import type { Config } from './config/index.ts';
import { raiseRequestHeadLimit } from './http/server-limits.ts';
import { closeInfra, type Infra, openInfra } from './infra/index.ts';
import { createLogger, type Logger } from './infra/log/index.ts';
import { version } from './version.ts';

export type RunningServer = {
  readonly url: string;
  readonly infra: Infra;
  /** Stops accepting, lets requests and streams finish within the grace period, then closes infra. */
  shutdown(reason?: string): Promise<void>;
};

/** serve: open infra, migrate, listen; SIGTERM/SIGINT shut down gracefully. */
export async function serve(config: Config, log: Logger = createLogger(config.logLevel)): Promise<RunningServer> {
  const infra = await openInfra(config, log);
  const applied = await infra.db.migrate();
  if (applied > 0) log.info('migrations applied', { count: applied, database: infra.db.kind });

  const services = createServices(infra);
  await services.replies.recoverInterrupted();

  // Requests a little over a route's limits reach it (422 in the error shape), not Bun's bare 431.
  raiseRequestHeadLimit();
  const app = createApp(infra, services).listen({
    port: config.port,
    hostname: config.host,
    maxRequestBodySize: maxRequestBytes(config),
    // Streams ping every SSE_PING_MS, which config keeps below this.
    idleTimeout: config.httpIdleTimeoutSeconds,
  });
  const server = app.server!;
  // Stopped by services.close() at shutdown.
  services.housekeeping.start();
  // Any instance takes pipeline executions from the queue (and re-queues those left unfinished).
  services.pipelines.start();
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${server.port}`;
  let stopping: Promise<void> | undefined;
  const shutdown = (reason = 'shutdown') =>
    (stopping ??= (async () => {
      log.info('shutting down', { reason, graceMs: config.shutdownGraceMs });
      let timer: Timer | undefined;
      const grace = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), config.shutdownGraceMs);
      });
      // Running pipeline executions get the same grace, then go back to the queue for another instance.
      const generationsDone = Promise.all([
        services.replies.drain(config.shutdownGraceMs),
        services.pipelines.drain(config.shutdownGraceMs),
      ]);
      const outcome = await Promise.race([Promise.all([server.stop(false), generationsDone]).then(() => 'drained' as const), grace]);
      clearTimeout(timer);
      await generationsDone;
      if (outcome === 'timeout') {
        log.warn('grace period over: closing remaining connections');
        await server.stop(true);
      }
      await services
        .close()
        .catch((error) => log.warn('could not close the live connections cleanly', { error: (error as Error).message }));
      await closeInfra(infra);
      log.info('stopped');
    })());

  const onSignal = (signal: NodeJS.Signals) => {
    void shutdown(signal).then(() => process.exit(0));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  // Only now: whoever waits for this line may signal us at once.
  log.info('listening', { url, version, database: infra.db.kind, kv: infra.kv.kind, pid: process.pid });
  if (config.jwtSecretGenerated) log.warn('JWT_SECRET not set: using the secret generated in DATA_DIR (fine for one instance)');

  return { url, infra, shutdown };
}
