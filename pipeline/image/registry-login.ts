import { spawn } from "node:child_process";
import type { PipelineConfig } from "../config/schema.js";
import { PipelineError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { buildahGlobalArgs, type BuildahStorage } from "./tools.js";
import { parseImageReference } from "./reference.js";
import type { Engine } from "./build.js";

/**
 * Pushing from a workflow: the tags come from the config's `image.repository` and the commit, and
 * Google's registries take the deploy identity's access token as a password (user
 * `oauth2accesstoken`), so no key file and no separate login action are needed.
 */

/** `image.repository:<commit>` when the config names a repository; none otherwise. */
export function pushTags(config: PipelineConfig, gitSha: string | null | undefined): string[] {
  const repository = config.image.repository;
  if (!repository) return [];
  return [`${repository}:${gitSha ? gitSha.slice(0, 12) : "latest"}`];
}

/** Artifact Registry (`*-docker.pkg.dev`) and Container Registry (`*gcr.io`). */
export function isGoogleRegistry(host: string | null): boolean {
  return !!host && /(^|[.-])(pkg\.dev|gcr\.io)$/.test(host.replace(/:\d+$/, ""));
}

export function googleRegistryHosts(tags: string[]): string[] {
  return [...new Set(tags.map((t) => parseImageReference(t).registry).filter((h): h is string => isGoogleRegistry(h)))];
}

/** `docker login` / `buildah login` with the password on stdin, never on the command line. */
export async function loginToRegistry(input: { host: string; engine: Engine; password: string; reporter: Reporter; storage?: BuildahStorage }): Promise<void> {
  input.reporter.secret(input.password);
  const [command, args] =
    input.engine === "docker"
      ? ["docker", ["login", "--username", "oauth2accesstoken", "--password-stdin", input.host]]
      : ["buildah", [...buildahGlobalArgs(input.storage ?? {}), "login", "--username", "oauth2accesstoken", "--password-stdin", input.host]];
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(command as string, args as string[], { stdio: ["pipe", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (c) => {
      if (c !== 0) input.reporter.error(`${command} login ${input.host}: ${err.trim().split("\n").at(-1) ?? ""}`);
      resolve(c ?? 1);
    });
    child.stdin.end(input.password + "\n");
  });
  if (code !== 0) throw new PipelineError(`${command} login ${input.host} failed (exit ${code}): check that the deploy identity has roles/artifactregistry.writer on the repository`, 2);
  input.reporter.info(`logged in to ${input.host} as oauth2accesstoken (${command})`);
}
