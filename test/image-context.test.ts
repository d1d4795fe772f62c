// Fast tests of the image build's host side: the .dockerignore matcher, the credentials guard
// (alone and inside buildImage, which must refuse before any engine runs), dependency staging
// from the real lockfile, and the engine command lines. No container engine needed.
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GateFailure, UsageError } from "../pipeline/core/errors.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { parseLdd } from "../pipeline/image/base-image.js";
import { buildahBudArgs, buildImage, dockerBuildxArgs } from "../pipeline/image/build.js";
import { assertNoCredentials, findCredentialFiles } from "../pipeline/image/credentials.js";
import { isIncluded, listContextFiles, parseIgnoreFile } from "../pipeline/image/dockerignore.js";
import { normaliseSourceUrl } from "../pipeline/image/lineage.js";
import { resolveImageModel } from "../pipeline/image/model-source.js";
import { isLoopbackRegistry, parseImageReference } from "../pipeline/image/reference.js";
import { dependencySets, parseLock } from "../pipeline/image/stage.js";
import { sha256File } from "../pipeline/core/hash.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { bundleAction, runAction } from "./helpers/action.js";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "image-context-"));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function put(root: string, path: string, text: string): Promise<void> {
  await mkdir(join(root, path, ".."), { recursive: true });
  await writeFile(join(root, path), text);
}

describe(".dockerignore semantics (Docker's pattern matcher)", () => {
  const included = (ignore: string, path: string) => isIncluded(parseIgnoreFile(ignore), path);

  it("anchors patterns at the context root: *.md is top-level only, **/*.md is everywhere", () => {
    expect(included("*.md", "README.md")).toBe(false);
    expect(included("*.md", "docs/a.md")).toBe(true);
    expect(included("**/*.md", "docs/deep/a.md")).toBe(false);
    expect(included("**/*.md", "a.md")).toBe(false);
  });

  it("excludes everything under an excluded directory, and ? matches one character", () => {
    expect(included("node_modules", "node_modules/a/index.js")).toBe(false);
    expect(included("temp?", "tempa")).toBe(false);
    expect(included("temp?", "tempab")).toBe(true);
    expect(included("/out/\n", "out/x")).toBe(false);
  });

  it("lets the last matching pattern win, with ! re-including", () => {
    expect(included("*.md\n!README.md", "README.md")).toBe(true);
    expect(included("*.md\n!README.md", "CHANGES.md")).toBe(false);
    expect(included("!README.md\n*.md", "README.md")).toBe(false);
    expect(included("dir\n!dir/keep.txt", "dir/keep.txt")).toBe(true);
    expect(included("dir\n!dir/keep.txt", "dir/other.txt")).toBe(false);
  });

  it("walks into excluded directories only when an exception can re-include something there", async () => {
    const root = await tempDir();
    await put(root, "a/keep/x.txt", "x");
    await put(root, "a/drop/y.txt", "y");
    await put(root, "b/z.txt", "z");
    await put(root, "top.txt", "t");
    expect(await listContextFiles(root, parseIgnoreFile("*\n!a/keep/\n"))).toEqual(["a/keep/x.txt"]);
    expect((await listContextFiles(root, parseIgnoreFile("b\n"))).sort()).toEqual(["a/drop/y.txt", "a/keep/x.txt", "top.txt"]);
  });
});

describe("credentials guard", () => {
  it("names every credentials-looking file that would enter the context, and why", async () => {
    const root = await tempDir();
    await put(root, "gha-creds-2f1e0c9d.json", JSON.stringify({ type: "external_account", audience: "//iam.googleapis.com/x" }));
    await put(root, "config/deploy-sa.json", JSON.stringify({ type: "service_account", private_key: "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n" }));
    await put(root, "keys/server.pem", "-----BEGIN CERTIFICATE-----\n");
    await put(root, "src/.env", "API_TOKEN=abc\n");
    await put(root, ".npmrc", "//registry.npmjs.org/:_authToken=npm_abc\n");
    await put(root, "notes/id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\n");
    await put(root, "docs/leak.txt", "here: -----BEGIN RSA PRIVATE KEY-----\n");
    // Not credentials: an example env, an .npmrc without tokens, ordinary JSON and code.
    await put(root, ".env.example", "API_TOKEN=\n");
    await put(root, "sub/.npmrc", "save-exact=true\n");
    await put(root, "package.json", JSON.stringify({ name: "x", type: "module" }));
    await put(root, "src/index.ts", "export const privateKeyField = 'private_key';\n");
    const findings = await findCredentialFiles(root);
    expect(findings.map((f) => f.path)).toEqual([".npmrc", "config/deploy-sa.json", "docs/leak.txt", "gha-creds-2f1e0c9d.json", "keys/server.pem", "notes/id_ed25519", "src/.env"]);
    expect(findings.find((f) => f.path === "config/deploy-sa.json")!.reason).toMatch(/private_key/);
    expect(findings.find((f) => f.path === "gha-creds-2f1e0c9d.json")!.reason).toMatch(/google-github-actions\/auth/);

    const refusal = await assertNoCredentials(root).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refusal).toBeInstanceOf(GateFailure);
    const message = (refusal as Error).message;
    expect(message).toContain("gha-creds-2f1e0c9d.json");
    expect(message).toContain("config/deploy-sa.json");
    // The refusal names files, never their content.
    expect(message).not.toContain("MII");
    expect(message).not.toContain("npm_abc");
  });

  it("respects the ignore file: the project's .dockerignore keeps a workspace gha-creds file out, the guard still catches what it lets in", async () => {
    const root = await tempDir();
    await copyFile(join(PROJECT_ROOT, ".dockerignore"), join(root, ".dockerignore"));
    await put(root, "gha-creds-abc.json", JSON.stringify({ type: "external_account" }));
    await put(root, "pipeline/.env", "SECRET=1\n");
    await put(root, "data/big.csv", "a,b\n");
    await put(root, "pipeline/core/x.ts", "export {};\n");
    expect(await findCredentialFiles(root)).toEqual([]);
    await put(root, "pipeline/deploy/service-account.json", JSON.stringify({ type: "service_account", private_key: "k" }));
    expect(await findCredentialFiles(root)).toEqual([{ path: "pipeline/deploy/service-account.json", reason: "service-account key (JSON with private_key)" }]);
    // buildah reads .containerignore before .dockerignore: with one that lets everything in, the workspace file counts.
    await put(root, ".containerignore", "data\n");
    expect((await findCredentialFiles(root)).map((f) => f.path)).toEqual(expect.arrayContaining(["gha-creds-abc.json", "pipeline/.env"]));
  });

  it("buildImage refuses before any engine runs, naming the file, and leaves no staged context behind", async () => {
    const root = await tempDir();
    await put(root, "package.json", JSON.stringify({ name: "x", type: "module", devDependencies: {} }));
    await put(root, "package-lock.json", JSON.stringify({ lockfileVersion: 3, packages: { "": { name: "x" } } }));
    await put(root, ".dockerignore", "node_modules\n");
    await put(root, "Dockerfile", "FROM scratch\n");
    await mkdir(join(root, "models/thermal-comfort/v1"), { recursive: true });
    await copyFile(join(PROJECT_ROOT, "models/registry.yaml"), join(root, "models/registry.yaml"));
    await copyFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), join(root, "models/thermal-comfort/v1/model.json"));
    await put(root, "gha-creds-1234.json", JSON.stringify({ type: "external_account" }));
    const reporter = recordingReporter();
    const error = await buildImage({
      root,
      model: "thermal-comfort@v1",
      modelName: "thermal-comfort",
      engine: "buildah",
      // An engine that cannot run: reaching it would fail differently than the guard.
      storage: { root: join(root, "no-such-storage") },
      lineage: { gitSha: null, sourceUrl: null, sourceDateEpoch: 0 },
      reporter,
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GateFailure);
    expect((error as Error).message).toMatch(/gha-creds-1234\.json: google-github-actions\/auth credentials file/);
    expect(await stat(join(root, "out/image/stage")).catch(() => null)).toBeNull();
    expect(await stat(join(root, "no-such-storage")).catch(() => null)).toBeNull();
  });
});

describe("the build-image action", () => {
  it("fails the step (exit 1) when the auth action's credentials file sits in a workspace whose ignore file lets it in", async () => {
    const root = await tempDir();
    await put(root, "package.json", JSON.stringify({ name: "x", type: "module", devDependencies: {} }));
    await put(root, "package-lock.json", JSON.stringify({ lockfileVersion: 3, packages: { "": { name: "x" } } }));
    await put(root, ".dockerignore", "node_modules\n");
    await mkdir(join(root, "models/thermal-comfort/v1"), { recursive: true });
    await mkdir(join(root, "config"), { recursive: true });
    await copyFile(join(PROJECT_ROOT, "config/pipeline.yaml"), join(root, "config/pipeline.yaml"));
    await copyFile(join(PROJECT_ROOT, "models/registry.yaml"), join(root, "models/registry.yaml"));
    await copyFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), join(root, "models/thermal-comfort/v1/model.json"));
    await put(root, "gha-creds-8d2c41f7a9.json", JSON.stringify({ type: "external_account", credential_source: { url: "https://x" } }));
    const bundle = await bundleAction("build-image");
    dirs.push(join(bundle, ".."));
    const run = await runAction(bundle, { model: "production", tags: "", push: "false", engine: "buildah", config: "config/pipeline.yaml" }, { workspace: root, env: { PIPELINE_BUILDAH_ROOT: join(root, "no-such-storage") } });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/::error::refusing to build: 1 credentials-looking file/);
    expect(run.stdout).toContain("gha-creds-8d2c41f7a9.json: google-github-actions/auth credentials file");
    expect(run.outputs.digest).toBeUndefined();
    expect(await stat(join(root, "no-such-storage")).catch(() => null)).toBeNull();
  }, 120_000);

  it("refuses an unknown engine as bad input (exit 2)", async () => {
    const bundle = await bundleAction("build-image");
    dirs.push(join(bundle, ".."));
    const run = await runAction(bundle, { model: "production", push: "false", engine: "podman", config: "config/pipeline.yaml" }, { workspace: PROJECT_ROOT });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('engine: expected auto, docker or buildah, got "podman"');
  }, 120_000);
});

describe("dependency staging from the project's lockfile", () => {
  let lock: ReturnType<typeof parseLock>;
  let sets: ReturnType<typeof dependencySets>;
  beforeAll(async () => {
    lock = parseLock(await readFile(join(PROJECT_ROOT, "package-lock.json"), "utf8"));
    const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    sets = dependencySets(lock, pkg.devDependencies);
  });

  it("takes what npm ci --omit=dev installs: the runtime dependencies, no dev tools", async () => {
    const pkg = JSON.parse(await readFile(join(PROJECT_ROOT, "package.json"), "utf8")) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of Object.keys(pkg.dependencies)) expect(sets.production).toContain(`node_modules/${name}`);
    for (const name of ["vitest", "eslint", "esbuild", "typescript", "@google-cloud/run", "playwright-core"]) expect(sets.production).not.toContain(`node_modules/${name}`);
    expect(sets.buildOnly).toContain("node_modules/typescript");
    expect(sets.buildOnly.filter((p) => sets.production.includes(p))).toEqual([]);
  });

  it("is closed: every production package's dependencies resolve to production packages", () => {
    const production = new Set(sets.production);
    const resolveFrom = (from: string, name: string): string | null => {
      let base = from;
      for (;;) {
        const candidate = `${base}/node_modules/${name}`.replace(/^\//, "");
        if (lock.packages[candidate]) return candidate;
        if (!base) return null;
        const cut = base.lastIndexOf("/node_modules/");
        base = cut < 0 ? "" : base.slice(0, cut);
      }
    };
    const unresolved: string[] = [];
    for (const path of sets.production) {
      const entry = lock.packages[path] as { dependencies?: Record<string, string> };
      for (const dep of Object.keys(entry.dependencies ?? {})) {
        const target = resolveFrom(path, dep);
        if (!target || !production.has(target)) unresolved.push(`${path} → ${dep}`);
      }
    }
    expect(unresolved).toEqual([]);
  });
});

describe("model for the image", () => {
  it("resolves production to the registry's artifact, with the identity the server checks", async () => {
    const model = await resolveImageModel(PROJECT_ROOT, "production", "thermal-comfort");
    expect(model.identity.name).toBe("thermal-comfort");
    expect(model.identity.sha256).toBe(await sha256File(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json")));
    expect(model.identity.version).toBeGreaterThanOrEqual(1);
    const byPath = await resolveImageModel(PROJECT_ROOT, "models/thermal-comfort/v1", "thermal-comfort");
    expect(byPath.identity).toEqual((await resolveImageModel(PROJECT_ROOT, "thermal-comfort@v1", "thermal-comfort")).identity);
  });

  it("refuses a model file that is not a registered version (the server would never be ready with it)", async () => {
    const root = await tempDir();
    await mkdir(join(root, "models"), { recursive: true });
    await copyFile(join(PROJECT_ROOT, "models/registry.yaml"), join(root, "models/registry.yaml"));
    const artifact = JSON.parse(await readFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), "utf8")) as { lineage: { seed: number } };
    artifact.lineage.seed += 1;
    await writeFile(join(root, "candidate.json"), JSON.stringify(artifact));
    await expect(resolveImageModel(root, "candidate.json", "thermal-comfort")).rejects.toThrow(/candidate\.json: not a version in models\/registry\.yaml/);
  });

  it("refuses an artifact that no longer matches the registry", async () => {
    const root = await tempDir();
    await mkdir(join(root, "models/thermal-comfort/v1"), { recursive: true });
    await copyFile(join(PROJECT_ROOT, "models/registry.yaml"), join(root, "models/registry.yaml"));
    const text = await readFile(join(PROJECT_ROOT, "models/thermal-comfort/v1/model.json"), "utf8");
    await writeFile(join(root, "models/thermal-comfort/v1/model.json"), text.replace(/\n$/, "") + " \n");
    await expect(resolveImageModel(root, "thermal-comfort@v1", "thermal-comfort")).rejects.toThrow(/does not match models\/registry\.yaml/);
  });
});

describe("engine command lines and names", () => {
  const input = { root: "/repo", dockerfile: "/repo/Dockerfile", tags: ["127.0.0.1:5000/m:v1", "127.0.0.1:5000/m:abc"], buildArgs: { BASE_IMAGE: "b", MODEL_NAME: "m" }, sourceDateEpoch: 1700000000, cache: true, outFile: "/tmp/o", push: true };

  it("buildah: vfs, chroot isolation, SOURCE_DATE_EPOCH as --timestamp, layer cache, every tag and build arg", () => {
    const args = buildahBudArgs(input, { root: "/s" });
    expect(args.slice(0, 5)).toEqual(["--storage-driver", "vfs", "--root", "/s", "bud"]);
    expect(args.join(" ")).toContain("--isolation chroot");
    expect(args.join(" ")).toContain("--timestamp 1700000000");
    expect(args).toContain("--layers");
    expect(args.join(" ")).toContain("--tag 127.0.0.1:5000/m:v1 --tag 127.0.0.1:5000/m:abc");
    expect(args.join(" ")).toContain("--build-arg BASE_IMAGE=b");
    expect(args.at(-1)).toBe("/repo");
    expect(buildahBudArgs({ ...input, cache: false })).toContain("--no-cache");
  });

  it("docker buildx: metadata file for the digest, no provenance index, --push or --load", () => {
    const args = dockerBuildxArgs(input);
    expect(args.slice(0, 2)).toEqual(["buildx", "build"]);
    expect(args.join(" ")).toContain("--metadata-file /tmp/o");
    expect(args).toContain("--provenance=false");
    expect(args.join(" ")).toContain("--build-arg SOURCE_DATE_EPOCH=1700000000");
    expect(args).toContain("--push");
    expect(dockerBuildxArgs({ ...input, push: false })).toContain("--load");
  });

  it("parses image references the way Docker does and treats only loopback registries as plain HTTP", () => {
    expect(parseImageReference("127.0.0.1:5000/thermal-comfort:v1")).toEqual({ registry: "127.0.0.1:5000", repository: "thermal-comfort", tag: "v1" });
    expect(parseImageReference("europe-docker.pkg.dev/p/r/m")).toEqual({ registry: "europe-docker.pkg.dev", repository: "p/r/m", tag: "latest" });
    expect(parseImageReference("library/node:24")).toEqual({ registry: null, repository: "library/node", tag: "24" });
    expect(() => parseImageReference("Upper/Case")).toThrow(UsageError);
    expect(isLoopbackRegistry("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackRegistry("localhost:5000")).toBe(true);
    expect(isLoopbackRegistry("europe-docker.pkg.dev")).toBe(false);
  });

  it("push needs a registry in every tag", async () => {
    await expect(
      buildImage({ root: PROJECT_ROOT, model: "production", modelName: "thermal-comfort", push: true, engine: "buildah", lineage: { gitSha: null, sourceUrl: null, sourceDateEpoch: 0 }, reporter: recordingReporter() }),
    ).rejects.toThrow(/--push: localhost\/thermal-comfort:v\d+ names no registry/);
  });

  it("reads ldd output into the libraries to copy (loader included, vdso skipped) and refuses a missing one", () => {
    const out = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
    expect(parseLdd(out, "node")).toEqual(["/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]);
    expect(() => parseLdd("\tlibfoo.so.1 => not found\n", "node")).toThrow(/libfoo\.so\.1/);
  });

  it("records the source URL without credentials", () => {
    expect(normaliseSourceUrl("git@github.com:acme/ml.git")).toBe("https://github.com/acme/ml");
    expect(normaliseSourceUrl("https://x-access-token:ghs_abc@github.com/acme/ml.git")).toBe("https://github.com/acme/ml");
  });
});
