import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import lockfile from "proper-lockfile";
import { PipelineError, UsageError } from "../core/errors.js";
import { isLoopbackRegistry, parseImageReference } from "./reference.js";
import type { Reporter } from "../core/reporter.js";
import { assertNoCredentials } from "./credentials.js";
import { expectedLabels, labelBuildArgs, type BuildLineage } from "./lineage.js";
import { resolveImageModel, type ImageModel } from "./model-source.js";
import { STAGE_DIR, stageBuildContext } from "./stage.js";
import { buildah, buildahGlobalArgs, dockerEngineAvailable, runToolChecked, toolAvailable, type BuildahStorage } from "./tools.js";

export type Engine = "docker" | "buildah";

export interface BuildImageInput {
  /** Repository root: the build context, with Dockerfile, .dockerignore and node_modules installed. */
  root: string;
  /** `production`, `name@vN`, or a model.json path (or its directory). */
  model: string;
  /**
   * Where models/registry.yaml is read to resolve `model` (default `root`). The local loop builds
   * from the repository but bakes in a version registered in its promotion workspace.
   */
  registryRoot?: string;
  /** The config's model name (what `production` refers to). */
  modelName: string;
  /** Image names; default one local tag `localhost/<model>:v<N>`. */
  tags?: string[];
  /** Runtime base (BASE_IMAGE); the Dockerfile's default when absent. */
  baseImage?: string;
  /** Build-stage image (BUILDER_IMAGE); default the base image when one is given. */
  builderImage?: string;
  push?: boolean;
  engine?: Engine | "auto";
  lineage: BuildLineage;
  /**
   * Layer cache. Default: on for docker buildx (overlay snapshots make it cheap), off for buildah.
   * With vfs every cached layer is a full copy of the filesystem, so measured on this machine
   * (bench/image.ts) a buildah build with --layers is slower than one without, even when every
   * layer hits the cache.
   */
  cache?: boolean;
  storage?: BuildahStorage;
  dockerfile?: string;
  reporter: Reporter;
  /** Build log lines (the engines' progress); default: dropped unless PIPELINE_IMAGE_LOG=1. */
  onLog?: (line: string) => void;
  now?: () => number;
}

export interface BuildImageResult {
  /** What to deploy: `repo@sha256:…` when pushed, else the first tag. */
  reference: string;
  /** Registry manifest digest when pushed; else the local image's manifest digest (or its ID with docker --load). */
  digest: string;
  tags: string[];
  engine: Engine;
  seconds: number;
  pushed: boolean;
  imageId: string;
  model: ImageModel["identity"];
  labels: Record<string, string>;
}

export function defaultTag(model: ImageModel): string {
  return `localhost/${model.identity.name}:v${model.identity.version}`;
}

export interface EngineArgsInput {
  root: string;
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string>;
  sourceDateEpoch: number;
  cache: boolean;
  /** buildah: where to write the image ID. docker: where to write the build metadata. */
  outFile: string;
  push: boolean;
}

/** `buildah bud` for this machine: vfs storage and chroot isolation need no fuse, overlay or user namespaces. */
export function buildahBudArgs(input: EngineArgsInput, storage: BuildahStorage = {}): string[] {
  const args = [...buildahGlobalArgs(storage), "bud", "--isolation", "chroot", "--file", input.dockerfile, "--timestamp", String(input.sourceDateEpoch), "--iidfile", input.outFile, "--identity-label=false", "--force-rm", "--pull=false"];
  if (input.cache) args.push("--layers");
  else args.push("--no-cache");
  for (const tag of input.tags) args.push("--tag", tag);
  for (const [k, v] of Object.entries(input.buildArgs)) args.push("--build-arg", `${k}=${v}`);
  args.push(input.root);
  return args;
}

/**
 * `docker buildx build` for a runner with a Docker engine. BuildKit reads SOURCE_DATE_EPOCH from
 * the build argument (image created time and history); --provenance=false keeps the pushed digest
 * the image manifest's (an attestation would turn it into an index), which Cloud Run deploys.
 */
export function dockerBuildxArgs(input: EngineArgsInput): string[] {
  const args = ["buildx", "build", "--file", input.dockerfile, "--metadata-file", input.outFile, "--provenance=false", "--build-arg", `SOURCE_DATE_EPOCH=${input.sourceDateEpoch}`];
  if (!input.cache) args.push("--no-cache");
  for (const tag of input.tags) args.push("--tag", tag);
  for (const [k, v] of Object.entries(input.buildArgs)) args.push("--build-arg", `${k}=${v}`);
  args.push(input.push ? "--push" : "--load", input.root);
  return args;
}

async function chooseEngine(requested: Engine | "auto"): Promise<Engine> {
  if (requested === "docker") return "docker";
  if (requested === "buildah") return "buildah";
  if (await dockerEngineAvailable()) return "docker";
  if (await toolAvailable("buildah")) return "buildah";
  throw new PipelineError("no image builder: no Docker engine answers (docker info failed) and buildah is not installed (Debian: apt-get install buildah)");
}

/** Serialises builds of one checkout: they share out/image/stage. */
async function withStageLock<T>(root: string, body: () => Promise<T>): Promise<T> {
  const dir = join(root, "out", "image");
  await mkdir(dir, { recursive: true });
  const release = await lockfile.lock(dir, { realpath: false, stale: 60_000, retries: { retries: 1200, minTimeout: 500, maxTimeout: 1000 } });
  try {
    return await body();
  } finally {
    await release();
  }
}

/**
 * Builds the service image: resolves the model, stages dependencies and model, refuses a context
 * with credentials in it, builds with docker buildx or buildah, optionally pushes, and reports
 * the reference and digest (reporter outputs `image`, `digest`, `tags`, `engine`).
 */
export async function buildImage(input: BuildImageInput): Promise<BuildImageResult> {
  const now = input.now ?? Date.now;
  const started = now();
  const model = await resolveImageModel(input.registryRoot ?? input.root, input.model, input.modelName);
  const tags = input.tags?.length ? input.tags : [defaultTag(model)];
  const parsed = tags.map(parseImageReference);
  if (input.push) {
    const bare = tags.filter((_, i) => !parsed[i]!.registry || parsed[i]!.registry === "localhost");
    if (bare.length) throw new UsageError(`--push: ${bare.join(", ")} names no registry (give --tag REGISTRY/NAME:TAG, e.g. 127.0.0.1:5000/${model.identity.name}:v1 or europe-docker.pkg.dev/PROJECT/REPO/${model.identity.name}:v1)`);
  }
  const engine = await chooseEngine(input.engine ?? "auto");
  const dockerfile = join(input.root, input.dockerfile ?? "Dockerfile");
  const log = input.onLog ?? (process.env.PIPELINE_IMAGE_LOG === "1" ? (line: string) => input.reporter.info(line) : () => {});
  const labelArgs = labelBuildArgs(input.lineage, model);
  const buildArgs: Record<string, string> = { ...labelArgs };
  if (input.baseImage) buildArgs.BASE_IMAGE = input.baseImage;
  const builder = input.builderImage ?? input.baseImage;
  if (builder) buildArgs.BUILDER_IMAGE = builder;
  input.reporter.info(`build-image: ${model.source} → ${tags.join(", ")} with ${engine}${input.baseImage ? ` on ${input.baseImage}` : ""}`);

  return withStageLock(input.root, async () => {
    const work = await mkdtemp(join(tmpdir(), "pipeline-build-"));
    try {
      const staged = await stageBuildContext(input.root, model);
      input.reporter.info(`build-image: staged ${staged.production} production + ${staged.buildOnly} build-only packages (${staged.files} files) and the model in ${STAGE_DIR}`);
      // The engine's own ignore file decides what enters the context; the guard reads the same one.
      await assertNoCredentials(input.root, engine === "buildah" ? [".containerignore", ".dockerignore"] : [`${basename(dockerfile)}.dockerignore`, ".dockerignore"]);
      const outFile = join(work, engine === "buildah" ? "iid" : "metadata.json");
      const engineArgs: EngineArgsInput = { root: input.root, dockerfile, tags, buildArgs, sourceDateEpoch: input.lineage.sourceDateEpoch, cache: input.cache ?? engine === "docker", outFile, push: input.push === true };
      let imageId: string;
      let digest: string;
      let pushed = false;
      if (engine === "buildah") {
        await runToolChecked("buildah", buildahBudArgs(engineArgs, input.storage), { what: "buildah bud", onLine: log, env: { SOURCE_DATE_EPOCH: String(input.lineage.sourceDateEpoch) } }).catch((error: unknown) => {
          // The default base is a public image: offline, pulling it is what fails. Say what to do instead.
          if (!input.baseImage && error instanceof PipelineError && /pull|resolv|dial tcp|lookup|no such host|initializing source/i.test(error.message)) {
            throw new PipelineError(`${error.message}\nThe default base image (node:24-slim) could not be pulled. Without network, build a base from the local node first: pipeline base-image, then --base-image localhost/pipeline-node-base:${process.versions.node.split(".")[0]}`, 1);
          }
          throw error;
        });
        imageId = (await readFile(outFile, "utf8")).trim();
        if (input.push) {
          digest = "";
          for (const [i, tag] of tags.entries()) {
            const digestFile = join(work, `digest-${i}`);
            await buildah(["push", "--quiet", `--tls-verify=${!isLoopbackRegistry(parsed[i]!.registry)}`, "--digestfile", digestFile, tag, `docker://${tag}`], input.storage, { onLine: log });
            const pushedDigest = (await readFile(digestFile, "utf8")).trim();
            if (i === 0) digest = pushedDigest;
          }
          pushed = true;
        } else {
          digest = (await buildah(["images", "--no-trunc", "--format", "{{.Digest}}", tags[0]!], input.storage)).trim().split("\n")[0]!;
        }
      } else {
        await runToolChecked("docker", dockerBuildxArgs(engineArgs), { what: "docker buildx build", onLine: log, env: { SOURCE_DATE_EPOCH: String(input.lineage.sourceDateEpoch) } });
        const metadata = JSON.parse(await readFile(outFile, "utf8")) as Record<string, unknown>;
        imageId = String(metadata["containerimage.config.digest"] ?? "");
        digest = String(metadata["containerimage.digest"] ?? imageId);
        pushed = input.push === true;
      }
      if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new PipelineError(`${engine}: the build gave no image digest (got ${JSON.stringify(digest)})`, 1);
      const first = parsed[0]!;
      const repository = first.registry ? `${first.registry}/${first.repository}` : first.repository;
      const reference = pushed ? `${repository}@${digest}` : tags[0]!;
      const seconds = (now() - started) / 1000;
      input.reporter.output("image", reference);
      input.reporter.output("digest", digest);
      input.reporter.output("tags", tags.join(","));
      input.reporter.output("engine", engine);
      input.reporter.info(`build-image: ${reference} (${pushed ? "pushed" : "local"}, ${seconds.toFixed(1)} s)`);
      input.reporter.summary(
        `### Image\n\n| | |\n|---|---|\n| reference | \`${reference}\` |\n| digest | \`${digest}\` |\n| model | ${model.identity.name} ${buildArgs.MODEL_VERSION} (content ${model.identity.content_sha256.slice(0, 12)}) |\n| engine | ${engine} |\n| build time | ${seconds.toFixed(1)} s |\n`,
      );
      return { reference, digest, tags, engine, seconds, pushed, imageId, model: model.identity, labels: expectedLabels(labelArgs) };
    } finally {
      await rm(join(input.root, STAGE_DIR), { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    }
  });
}
