import { access } from "node:fs/promises";
import { resolve } from "node:path";
import type { Command } from "commander";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { UsageError } from "../../pipeline/core/errors.js";
import { startServer } from "../../pipeline/serve/start.js";
import { action } from "../run-command.js";

interface ServeFlags {
  model: string;
  port?: string;
  host?: string;
  config?: string;
  allowUnverified?: boolean;
}

function parsePort(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 65535) throw new UsageError(`--port: expected a port number 0-65535, got "${text}"`);
  return n;
}

/**
 * `pipeline serve`: the prediction service (pipeline/serve/). Runs until SIGTERM/SIGINT, then
 * drains and exits 0. The config is optional: without --config and without config/pipeline.yaml
 * (an image) the serving defaults apply.
 */
export function register(program: Command): void {
  program
    .command("serve")
    .description("Serve predictions over HTTP: /predict, /predict/batch, /health, /ready, /model, /metrics, /monitoring/*, /dashboard.")
    .option("--model <spec>", "model.json path, production, or name@vN (from the registry)", "production")
    .option("--port <n>", "port to listen on (default: PORT, then serving.port, 8080)")
    .option("--host <host>", "address to listen on (default serving.host, 0.0.0.0)")
    .option("--config <file>", `pipeline config for the serving section (default ${DEFAULT_CONFIG_PATH} when it exists)`)
    .option("--allow-unverified", "be ready with a model that has no serving.json and is not in the registry")
    .action(
      action(async (ctx, flags: ServeFlags) => {
        const port = flags.port === undefined ? undefined : parsePort(flags.port);
        let configPath = flags.config;
        if (configPath === undefined && (await access(resolve(ctx.root, DEFAULT_CONFIG_PATH)).then(() => true, () => false))) configPath = DEFAULT_CONFIG_PATH;
        const loaded = configPath === undefined ? null : await loadConfig(configPath, ctx.root);
        const config = loaded?.config;
        const started = await startServer({
          model: flags.model,
          root: loaded?.root ?? ctx.root,
          serving: config?.serving,
          drift: config?.drift,
          modelName: config?.model.name,
          allowUnverified: flags.allowUnverified === true,
          port,
          host: flags.host,
        });
        const state = started.app.serving.state;
        ctx.reporter.info(`serve: listening on ${started.url} (${state.status === "ready" ? `${state.served.name} v${state.served.version ?? "unverified"} ready` : `not ready: ${state.status === "failed" ? state.reason : "loading"}`})`);
        // Runs until a signal: startServer drains and exits the process.
        await new Promise<never>(() => {});
      }),
    );
}
