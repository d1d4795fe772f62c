/**
 * Benchmark for the image (issue 8): image size and build time, with buildah (vfs, chroot) on
 * the local base image, pushed to a local docker-registry.
 *
 * Builds, in one private image store, from a snapshot of the working tree (so a "source change"
 * can be made without touching the checkout):
 * - base: `pipeline base-image` (node binary + linked libraries, scratch);
 * - plain, twice: buildah's default, no layer cache (one layer per stage); the two digests are
 *   compared (reproducible build);
 * - --layers: empty cache, then nothing changed (every layer cached), then one line added to a
 *   file in pipeline/ (recompile, later layers rebuilt).
 * Sizes: uncompressed (du of the mounted root filesystem) and compressed (the registry manifest's
 * layer sizes, what a pull downloads), for the base and the image; node_modules as staged
 * (production + build-only packages) and as shipped (after the build stage's prune), against the
 * host's full node_modules. Ratios are against figures of the same run. Nothing is asserted.
 *
 *   npx tsx bench/image.ts            (npm run bench:image)
 *
 * Writes out/bench/image.json.
 */
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { writeJsonAtomic } from "../pipeline/core/atomic.js";
import { buildBaseImage } from "../pipeline/image/base-image.js";
import { buildImage, type BuildImageResult } from "../pipeline/image/build.js";
import { resolveImageModel } from "../pipeline/image/model-source.js";
import { stageBuildContext, STAGE_DIR } from "../pipeline/image/stage.js";
import { buildah, runToolChecked, type BuildahStorage } from "../pipeline/image/tools.js";
import { missingImageTools, startRegistry } from "../pipeline/image/local-registry.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, "..");
const SOURCE_DATE_EPOCH = 1_700_000_000;

const missing = await missingImageTools();
if (missing.length) {
  console.error(`bench:image needs ${missing.join(", ")} (apt-get install ${missing.join(" ")})`);
  process.exit(2);
}

async function duBytes(path: string): Promise<number> {
  return Number((await runToolChecked("du", ["-sb", "--apparent-size", path])).split(/\s/)[0]);
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

const work = await mkdtemp(join(tmpdir(), "bench-image-"));
const storage: BuildahStorage = { root: join(work, "storage"), runroot: join(work, "runroot") };
const registry = await startRegistry(join(work, "registry"));
try {
  // Snapshot of what git would check out plus untracked work, with the host's node_modules.
  const ctx = join(work, "ctx");
  const files = (await runToolChecked("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT })).split("\0").filter(Boolean);
  for (const f of files) {
    await mkdir(dirname(join(ctx, f)), { recursive: true });
    await cp(join(ROOT, f), join(ctx, f)).catch(() => undefined); // files deleted in the working tree
  }
  await symlink(join(ROOT, "node_modules"), join(ctx, "node_modules"));
  const headSha = (await runToolChecked("git", ["rev-parse", "HEAD"], { cwd: ROOT })).trim();
  const lineage = { gitSha: headSha, sourceUrl: null, sourceDateEpoch: SOURCE_DATE_EPOCH };
  const reporter = recordingReporter();

  const timed = async <T>(body: () => Promise<T>): Promise<[T, number]> => {
    const t = performance.now();
    const value = await body();
    return [value, (performance.now() - t) / 1000];
  };

  const [base, baseSeconds] = await timed(() => buildBaseImage({ storage, reporter }));
  const build = (tag: string, cache: boolean) =>
    timed(() => buildImage({ root: ctx, model: "production", modelName: "thermal-comfort", tags: [`${registry.host}/thermal-comfort:${tag}`], baseImage: base.reference, push: true, engine: "buildah", cache, lineage, storage, reporter }));
  // buildah's default here: no layer cache (one layer per stage).
  const [cold, coldSeconds] = await build("plain-1", false);
  const [again, againSeconds] = await build("plain-2", false);
  // With --layers: empty cache, then nothing changed, then one source file changed.
  const [layersCold, layersColdSeconds] = await build("layers-cold", true);
  const [layersWarm, layersWarmSeconds] = await build("layers-warm", true);
  const changed = join(ctx, "pipeline/image/reference.ts");
  await writeFile(changed, (await readFile(changed, "utf8")) + "\n// bench: a source change\n");
  const [, changeSeconds] = await build("layers-change", true);

  // Sizes: compressed from the registry, uncompressed from the mounted root filesystems.
  const compressed = async (result: BuildImageResult | null, reference: string): Promise<number> => {
    const [repo, ref] = result ? ["thermal-comfort", result.digest] : [reference, "latest"];
    const res = await fetch(`http://${registry.host}/v2/${repo}/manifests/${ref}`, { headers: { accept: "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" } });
    const manifest = (await res.json()) as { layers: Array<{ size: number }> };
    return manifest.layers.reduce((s, l) => s + l.size, 0);
  };
  await buildah(["push", "--quiet", "--tls-verify=false", base.reference, `docker://${registry.host}/pipeline-node-base:latest`], storage);
  const mounted = async (reference: string, paths: string[]): Promise<number[]> => {
    const container = (await buildah(["from", "--quiet", "--pull=false", "--tls-verify=false", reference], storage)).trim();
    try {
      const mount = (await buildah(["mount", container], storage)).trim();
      return await Promise.all(paths.map((p) => duBytes(join(mount, p))));
    } finally {
      await buildah(["umount", container], storage).catch(() => undefined);
      await buildah(["rm", container], storage).catch(() => undefined);
    }
  };
  const [baseBytes] = await mounted(base.reference, ["."]);
  const [imageBytes, shippedModules, distBytes] = await mounted(cold.reference, [".", "app/node_modules", "app/dist"]);
  const baseCompressed = await compressed(null, "pipeline-node-base");
  const imageCompressed = await compressed(cold, "");
  // node_modules as staged for the build (production + build-only), and the host's full tree.
  const model = await resolveImageModel(ctx, "production", "thermal-comfort");
  await stageBuildContext(ctx, model);
  const stagedModules = await duBytes(join(ctx, STAGE_DIR, "node_modules"));
  await rm(join(ctx, STAGE_DIR), { recursive: true, force: true });
  const hostModules = await duBytes(join(ROOT, "node_modules/"));

  const figures = {
    node: process.version,
    reproducible: { same_digest_twice_without_cache: cold.digest === again.digest, same_digest_layers_cold_and_warm: layersWarm.digest === layersCold.digest },
    seconds: { base: baseSeconds, plain: coldSeconds, plain_again: againSeconds, layers_cold: layersColdSeconds, layers_warm: layersWarmSeconds, layers_source_change: changeSeconds },
    bytes: {
      base: baseBytes,
      base_compressed: baseCompressed,
      image: imageBytes,
      image_compressed: imageCompressed,
      app_layers: imageBytes - baseBytes,
      dist: distBytes,
      node_modules_host: hostModules,
      node_modules_staged: stagedModules,
      node_modules_shipped: shippedModules,
    },
    ratios: {
      plain_again_vs_plain: againSeconds / coldSeconds,
      layers_cold_vs_plain: layersColdSeconds / coldSeconds,
      layers_warm_vs_plain: layersWarmSeconds / coldSeconds,
      layers_source_change_vs_plain: changeSeconds / coldSeconds,
      image_vs_base: imageBytes / baseBytes,
      compressed_vs_uncompressed: imageCompressed / imageBytes,
      shipped_vs_staged_node_modules: shippedModules / stagedModules,
      shipped_vs_host_node_modules: shippedModules / hostModules,
    },
  };
  await writeJsonAtomic(join(ROOT, "out/bench/image.json"), figures);
  const s = figures.seconds;
  const b = figures.bytes;
  const r = figures.ratios;
  console.log(`image benchmark (buildah ${(await runToolChecked("buildah", ["--version"])).trim().split(" ")[2]}, vfs, chroot; node ${process.version})`);
  console.log("");
  console.log("| build (each pushed to the local registry) | seconds | vs first plain build |");
  console.log("|---|---:|---:|");
  console.log(`| base image (pipeline base-image) | ${s.base.toFixed(1)} | |`);
  console.log(`| plain (buildah default: no layer cache) | ${s.plain.toFixed(1)} | 1.00 |`);
  console.log(`| plain again | ${s.plain_again.toFixed(1)} | ${r.plain_again_vs_plain.toFixed(2)} |`);
  console.log(`| --layers, empty cache | ${s.layers_cold.toFixed(1)} | ${r.layers_cold_vs_plain.toFixed(2)} |`);
  console.log(`| --layers, nothing changed (every layer cached) | ${s.layers_warm.toFixed(1)} | ${r.layers_warm_vs_plain.toFixed(2)} |`);
  console.log(`| --layers, one source file changed | ${s.layers_source_change.toFixed(1)} | ${r.layers_source_change_vs_plain.toFixed(2)} |`);
  console.log("");
  console.log(`reproducible: same digest for two plain builds: ${figures.reproducible.same_digest_twice_without_cache}; --layers cold and warm: ${figures.reproducible.same_digest_layers_cold_and_warm}`);
  console.log("");
  console.log("| size | uncompressed | compressed (pull) |");
  console.log("|---|---:|---:|");
  console.log(`| base (node ${process.version} + libraries) | ${mb(b.base)} | ${mb(b.base_compressed)} |`);
  console.log(`| service image | ${mb(b.image)} | ${mb(b.image_compressed)} |`);
  console.log(`| of which app layers | ${mb(b.app_layers)} | |`);
  console.log(`| of which dist/ | ${mb(b.dist)} | |`);
  console.log("");
  console.log(`node_modules: host ${mb(b.node_modules_host)} (all dev tools), staged ${mb(b.node_modules_staged)} (production + typescript/@types), shipped ${mb(b.node_modules_shipped)} (${(r.shipped_vs_staged_node_modules * 100).toFixed(0)}% of staged, ${(r.shipped_vs_host_node_modules * 100).toFixed(1)}% of host)`);
} finally {
  await registry.stop();
  await buildah(["rm", "--all"], storage).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
}
