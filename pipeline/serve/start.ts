import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { createServer, type ServerOptions } from "./app.js";

/**
 * Runs the service the Cloud Run way: listens on PORT (or the given port), and on SIGTERM (or
 * SIGINT) stops accepting connections, lets in-flight requests finish within
 * serving.shutdown_timeout_seconds (10 s by default, Cloud Run's grace period), flushes the logs and
 * exits 0. If requests are still running when the bound is reached it exits 1, saying so.
 */
export interface StartOptions extends ServerOptions {
  /** Default: PORT, then serving.port. 0 picks a free port. */
  port?: number;
  /** Default: serving.host (0.0.0.0). */
  host?: string;
  /** Install SIGTERM/SIGINT handlers that drain and exit (default true; false for embedding). */
  handleSignals?: boolean;
  /** Called instead of process.exit (tests). */
  exit?: (code: number) => void;
}

export interface StartedServer {
  app: FastifyInstance;
  /** http://host:port the server listens on. */
  url: string;
  port: number;
  /** Drains (stop accepting, finish in-flight within the bound) and closes; resolves with the exit code it would use. */
  shutdown(reason?: string): Promise<number>;
}

export function portFrom(env: NodeJS.ProcessEnv, explicit: number | undefined, fallback: number): number {
  if (explicit !== undefined) return explicit;
  const raw = env.PORT;
  if (raw !== undefined && raw !== "") {
    const n = Number(raw);
    if (Number.isInteger(n) && n >= 0 && n <= 65535) return n;
    throw new Error(`PORT: expected a port number, got ${JSON.stringify(raw)}`);
  }
  return fallback;
}

export async function startServer(options: StartOptions): Promise<StartedServer> {
  const env = options.env ?? process.env;
  const app = await createServer(options);
  const { config, logger } = app.serving;
  // A connection that never sent a request (or sits idle between keep-alive requests) is closed by
  // the drain; one with a request in progress is left to finish. node's server knows which of the
  // connections that sent something are idle (closeIdleConnections); the ones that never sent a
  // byte it does not list, so those are tracked here, once per connection (nothing runs per request).
  const silent = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    silent.add(socket);
    socket.once("data", () => silent.delete(socket));
    socket.once("close", () => silent.delete(socket));
  });
  const closeIdle = () => {
    for (const socket of silent) socket.destroy();
    app.server.closeIdleConnections();
  };
  const port = portFrom(env, options.port, config.port);
  const host = options.host ?? config.host;
  await app.listen({ port, host });
  const address = app.server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const url = `http://${shownHost}:${actualPort}`;
  logger.info({ event: "listening", port: actualPort, host, ready: app.serving.state.status === "ready" }, `listening on ${host}:${actualPort}`);

  let closing: Promise<number> | null = null;
  const shutdown = (reason = "shutdown"): Promise<number> => {
    closing ??= (async () => {
      const boundMs = config.shutdown_timeout_seconds * 1000;
      logger.info({ event: "draining", reason, bound_seconds: config.shutdown_timeout_seconds }, "draining: no new connections, finishing in-flight requests");
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolveTimeout) => {
        timer = setTimeout(() => resolveTimeout("timeout"), boundMs);
      });
      app.serving.draining = true;
      const closed = app.close().then(() => "closed" as const);
      closeIdle();
      const sweeper = setInterval(closeIdle, 100);
      const outcome = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      clearInterval(sweeper);
      await app.serving.monitor?.close().catch(() => undefined);
      if (outcome === "timeout") {
        logger.warn({ event: "drain_timeout" }, `requests still running after ${config.shutdown_timeout_seconds} s; exiting anyway`);
        app.server.closeAllConnections();
      } else logger.info({ event: "stopped" }, "drained and stopped");
      app.serving.flushLogs();
      return outcome === "timeout" ? 1 : 0;
    })();
    return closing;
  };

  if (options.handleSignals !== false) {
    const exit = options.exit ?? ((code: number) => process.exit(code));
    const onSignal = (signal: NodeJS.Signals) => {
      void shutdown(signal).then(exit, () => exit(1));
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  return { app, url, port: actualPort, shutdown };
}
