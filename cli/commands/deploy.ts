import type { Command } from "commander";
import { resolve } from "node:path";
import { z } from "zod";
import { DEFAULT_CONFIG_PATH, loadConfig } from "../../pipeline/config/load.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../../pipeline/core/errors.js";
import { deploy, removePreview } from "../../pipeline/deploy/index.js";
import { succeeded } from "../../pipeline/deploy/result.js";
import { currentGitSha } from "../git-sha.js";
import { action } from "../run-command.js";

const FlagsSchema = z
  .object({
    env: z.string().min(1),
    config: z.string().min(1),
    image: z.string().min(1).optional(),
    model: z.string().min(1),
    preview: z.string().regex(/^[a-z]([-a-z0-9]{0,44}[a-z0-9])?$/, "a tag: lowercase letters, digits and hyphens, starting with a letter").optional(),
    removePreview: z.string().min(1).optional(),
    result: z.string().min(1).optional(),
    record: z.boolean(),
    workloadIdentityProvider: z.string().min(1).optional(),
    serviceAccount: z.string().min(1).optional(),
    stopAfterSmoke: z.boolean().optional(),
  })
  .strict();

/**
 * `pipeline deploy`: thin shell over pipeline/deploy. Exit 0 deployed (or preview passed), 1 the
 * deploy failed or was rolled back (the reason is printed; traffic is as it was), 2 bad input.
 * The local target keeps serving until Ctrl-C unless --stop-after-smoke.
 */
export function register(program: Command): void {
  program
    .command("deploy")
    .description("Deploy the model to an environment of the config: Cloud Run with smoke test, canary and automatic rollback, or local")
    .requiredOption("--env <name>", "environment in the config: staging, production, local, ...")
    .option("--image <ref>", "the image, pinned by digest (REPO@sha256:...); for local, run it with buildah")
    .option("--model <spec>", "production, name@vN, or a model.json path (must be a registered version)", "production")
    .option("--preview <tag>", "deploy with no traffic under this tag, smoke-test it and stop (the serving revision is untouched)")
    .option("--remove-preview <tag>", "remove a preview tag (nothing is deployed)")
    .option("--config <file>", "pipeline configuration", DEFAULT_CONFIG_PATH)
    .option("--result <file>", "write the JSON deploy result here")
    .option("--no-record", "do not record the deployment in models/registry.yaml")
    .option("--workload-identity-provider <name>", "projects/N/locations/global/workloadIdentityPools/P/providers/X (else GOOGLE_WORKLOAD_IDENTITY_PROVIDER, else ADC)")
    .option("--service-account <email>", "service account to impersonate with Workload Identity Federation")
    .option("--stop-after-smoke", "local target: stop the server after the smoke test")
    .action(
      action(async ({ reporter, root }, raw: unknown) => {
        const parsed = FlagsSchema.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0]!;
          throw new UsageError(`--${String(issue.path[0] ?? "").replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${issue.message}`);
        }
        const flags = parsed.data;
        const { config } = await loadConfig(flags.config, root);
        if (flags.removePreview) {
          await removePreview({ config, environment: flags.env, tag: flags.removePreview, reporter, workloadIdentityProvider: flags.workloadIdentityProvider, serviceAccount: flags.serviceAccount });
          return EXIT_OK;
        }
        const out = await deploy({
          config,
          root,
          environment: flags.env,
          image: flags.image,
          model: flags.model,
          previewTag: flags.preview,
          gitSha: await currentGitSha(root),
          record: flags.record && !flags.preview,
          resultPath: flags.result ? resolve(root, flags.result) : undefined,
          reporter,
          workloadIdentityProvider: flags.workloadIdentityProvider,
          serviceAccount: flags.serviceAccount,
        });
        process.stdout.write(JSON.stringify({ status: out.file.status, revision: out.file.revision, service_url: out.file.service_url, tag_url: out.file.tag_url, reason: out.file.reason }) + "\n");
        if (out.local && succeeded(out.result)) {
          if (flags.stopAfterSmoke) await out.local.stop();
          else {
            reporter.info(`serving on ${out.result.serviceUrl}; Ctrl-C stops it`);
            await new Promise<void>((done) => {
              const stop = () => void out.local!.stop().then(done);
              process.once("SIGINT", stop);
              process.once("SIGTERM", stop);
            });
          }
        }
        return succeeded(out.result) ? EXIT_OK : EXIT_FAILED;
      }),
    );
}
