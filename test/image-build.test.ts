// The image, with real parts: a base image from this machine's node (buildah, scratch), the
// service image built from the project's Dockerfile on it (buildah bud, vfs, chroot), pushed to a
// real local docker-registry, read back over the registry HTTP API v2 and with skopeo, its files
// checked inside the image, and its entrypoint (`pipeline serve`) run with runImage and asked for
// /health, /ready and /predict. One build, shared by every assertion; slow by nature.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { sha256File } from "../pipeline/core/hash.js";
import { buildBaseImage, type BaseImageResult } from "../pipeline/image/base-image.js";
import { buildImage, type BuildImageResult } from "../pipeline/image/build.js";
import { IMAGE_LABELS } from "../pipeline/image/lineage.js";
import { runImage, type RunningImage } from "../pipeline/image/run.js";
import { buildah, runToolChecked, type BuildahStorage } from "../pipeline/image/tools.js";
import { modelContentHash } from "../pipeline/model/identity.js";
import { loadModel } from "../pipeline/model/load.js";
import { productionVersion } from "../pipeline/registry/query.js";
import { readRegistry } from "../pipeline/registry/store.js";
import { PROJECT_ROOT } from "./helpers/cli.js";
import { missingImageTools, startRegistry, type LocalRegistry } from "../pipeline/image/local-registry.js";

const HOOK_TIMEOUT = 15 * 60_000;
const SOURCE_DATE_EPOCH = 1_700_000_000; // 2023-11-14T22:13:20Z
const SOURCE_URL = "https://github.com/example/gitops-ml-pipeline";

let work: string;
let storage: BuildahStorage;
let registry: LocalRegistry | null = null;
let base: BaseImageResult;
let built: BuildImageResult;
let headSha: string;
const containers: string[] = [];
const reporter = recordingReporter();

beforeAll(async () => {
  const missing = await missingImageTools();
  if (missing.length) throw new Error(`the image tests need ${missing.join(", ")} (Debian packages; .ci/run installs them: apt-get install ${missing.join(" ")})`);
  work = await mkdtemp(join(tmpdir(), "image-build-"));
  // A private image store: no test shares images or cache with another run or with the user's.
  storage = { root: join(work, "storage"), runroot: join(work, "runroot") };
  registry = await startRegistry(join(work, "registry"));
  headSha = (await runToolChecked("git", ["rev-parse", "HEAD"], { cwd: PROJECT_ROOT })).trim();
  base = await buildBaseImage({ storage, reporter });
  built = await buildImage({
    root: PROJECT_ROOT,
    model: "production",
    modelName: "thermal-comfort",
    tags: [`${registry.host}/thermal-comfort:test`, `${registry.host}/thermal-comfort:${headSha.slice(0, 7)}`],
    baseImage: base.reference,
    push: true,
    engine: "buildah",
    lineage: { gitSha: headSha, sourceUrl: SOURCE_URL, sourceDateEpoch: SOURCE_DATE_EPOCH },
    storage,
    reporter,
  });
}, HOOK_TIMEOUT);

afterAll(async () => {
  for (const c of containers) await buildah(["rm", c], storage).catch(() => undefined);
  await registry?.stop();
  // vfs layers are whole directory trees owned by root; buildah's own cleanup first, then the files.
  if (work) {
    await buildah(["rm", "--all"], storage).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}, HOOK_TIMEOUT);

/** Runs a node script inside a fresh working container of `reference`, as `user`, and parses its JSON output. */
async function inImage<T>(reference: string, script: string, user = "65532:65532"): Promise<T> {
  const container = (await buildah(["from", "--quiet", "--pull=false", "--tls-verify=false", reference], storage)).trim();
  containers.push(container);
  const out = await buildah(["run", "--isolation", "chroot", "--user", user, container, "--", "node", "-e", script], storage);
  return JSON.parse(out) as T;
}

interface OciManifest {
  schemaVersion: number;
  mediaType?: string;
  config: { digest: string; mediaType: string };
  layers: Array<{ digest: string; size: number; mediaType: string }>;
}

async function registryGet(path: string, accept?: string): Promise<Response> {
  const res = await fetch(`http://${registry!.host}/v2/${path}`, { headers: accept ? { accept } : {} });
  if (!res.ok) throw new Error(`GET /v2/${path}: ${res.status} ${await res.text()}`);
  return res;
}

describe("base image from the local node", () => {
  it("runs this machine's node as the non-root user it names, with CA certificates and no shell", async () => {
    const facts = await inImage<{ version: string; user: string; uid: number; ca: boolean; sh: boolean; tmpMode: string }>(
      base.reference,
      `const fs=require("fs"),os=require("os");console.log(JSON.stringify({version:process.version,user:os.userInfo().username,uid:process.getuid(),ca:fs.existsSync("/etc/ssl/certs/ca-certificates.crt"),sh:fs.existsSync("/bin/sh"),tmpMode:(fs.statSync("/tmp").mode&0o7777).toString(8)}))`,
    );
    expect(facts).toEqual({ version: process.version, user: "nonroot", uid: 65532, ca: true, sh: false, tmpMode: "1777" });
  });
});

describe("the service image in the registry", () => {
  let manifestBody: string;
  let manifest: OciManifest;
  let config: { created: string; config: { Labels: Record<string, string>; User: string; Entrypoint: string[]; Env: string[]; WorkingDir: string; ExposedPorts?: Record<string, unknown> } };

  beforeAll(async () => {
    const res = await registryGet("thermal-comfort/manifests/test", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json");
    manifestBody = await res.text();
    manifest = JSON.parse(manifestBody) as OciManifest;
    config = (await (await registryGet(`thermal-comfort/blobs/${manifest.config.digest}`)).json()) as typeof config;
  }, HOOK_TIMEOUT);

  it("has the digest buildImage reported, under both tags, and the reference pins it", async () => {
    const digest = `sha256:${createHash("sha256").update(manifestBody).digest("hex")}`;
    expect(built.digest).toBe(digest);
    expect(built.reference).toBe(`${registry!.host}/thermal-comfort@${digest}`);
    const byShaTag = await registryGet(`thermal-comfort/manifests/${headSha.slice(0, 7)}`, "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json");
    expect(byShaTag.headers.get("docker-content-digest")).toBe(digest);
    expect(reporter.outputs.image).toBe(built.reference);
    expect(reporter.outputs.digest).toBe(digest);
  });

  it("carries the lineage as OCI labels, created from SOURCE_DATE_EPOCH", async () => {
    const reg = await readRegistry(PROJECT_ROOT);
    const prod = productionVersion(reg, "thermal-comfort")!;
    const model = await loadModel(join(PROJECT_ROOT, prod.artifact.path));
    const labels = config.config.Labels;
    expect(labels[IMAGE_LABELS.revision]).toBe(headSha);
    expect(labels[IMAGE_LABELS.source]).toBe(SOURCE_URL);
    expect(labels[IMAGE_LABELS.created]).toBe("2023-11-14T22:13:20Z");
    expect(config.created).toBe("2023-11-14T22:13:20Z");
    expect(labels[IMAGE_LABELS.modelName]).toBe("thermal-comfort");
    expect(labels[IMAGE_LABELS.modelVersion]).toBe(`v${prod.version}`);
    expect(labels[IMAGE_LABELS.modelSha256]).toBe(await sha256File(join(PROJECT_ROOT, prod.artifact.path)));
    expect(labels[IMAGE_LABELS.modelContentSha256]).toBe(modelContentHash(model));
    expect(labels[IMAGE_LABELS.dataSha256]).toBe(prod.data.sha256);
  });

  it("runs pipeline serve on the baked-in model as the non-root user, on PORT 8080", () => {
    expect(config.config.Entrypoint).toEqual(["node", "--max-semi-space-size=4", "/app/dist/cli/main.js", "serve", "--model", "/app/model/model.json"]);
    expect(config.config.User).toBe("65532:65532");
    expect(config.config.Env).toContain("PORT=8080");
    expect(config.config.Env).toContain("NODE_ENV=production");
    expect(Object.keys(config.config.ExposedPorts ?? {})).toEqual(["8080/tcp"]);
  });

  it("is what skopeo sees too: same digest, same labels, the base's layers first", async () => {
    const out = await runToolChecked("skopeo", ["inspect", "--tls-verify=false", `docker://${registry!.host}/thermal-comfort:test`]);
    const inspected = JSON.parse(out) as { Digest: string; Labels: Record<string, string>; Layers: string[] };
    expect(inspected.Digest).toBe(built.digest);
    expect(inspected.Labels).toEqual(config.config.Labels);
    expect(inspected.Layers).toEqual(manifest.layers.map((l) => l.digest));
    // The base's one layer comes first, then the app's (one without the layer cache, buildah's default).
    expect(manifest.layers.length).toBe(2);
  });
});

describe("inside the image (pulled back from the registry)", () => {
  interface Facts {
    uid: number;
    modelSha: string;
    serving: Record<string, unknown>;
    modelMtime: number;
    cli: boolean;
    sources: boolean;
    typescript: boolean;
    vitest: boolean;
    fastify: boolean;
    declarations: number;
    writable: boolean;
    help: string;
  }
  let facts: Facts;

  beforeAll(async () => {
    const script = `
      const fs = require("fs"), path = require("path"), crypto = require("crypto"), cp = require("child_process");
      const sha = (f) => crypto.createHash("sha256").update(fs.readFileSync(f)).digest("hex");
      let declarations = 0;
      const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) walk(p); else if (/\\.d\\.[cm]?ts$/.test(e.name)) declarations++; } };
      walk("/app/node_modules");
      let writable = true;
      try { fs.writeFileSync("/app/model/model.json", "{}"); } catch { writable = false; }
      const help = cp.execFileSync(process.execPath, ["/app/dist/cli/main.js", "--help"], { cwd: "/app", encoding: "utf8" });
      console.log(JSON.stringify({
        uid: process.getuid(), modelSha: sha("/app/model/model.json"),
        serving: JSON.parse(fs.readFileSync("/app/model/serving.json", "utf8")),
        modelMtime: fs.statSync("/app/model/model.json").mtimeMs / 1000,
        cli: fs.existsSync("/app/dist/cli/main.js"), sources: fs.existsSync("/app/pipeline") || fs.existsSync("/app/test"),
        typescript: fs.existsSync("/app/node_modules/typescript"), vitest: fs.existsSync("/app/node_modules/vitest"),
        fastify: fs.existsSync("/app/node_modules/fastify/package.json"), declarations, writable, help }));`;
    facts = await inImage<Facts>(built.reference, script);
  }, HOOK_TIMEOUT);

  it("holds the registry's artifact byte for byte, with serving.json naming it", async () => {
    const reg = await readRegistry(PROJECT_ROOT);
    const prod = productionVersion(reg, "thermal-comfort")!;
    expect(facts.modelSha).toBe(prod.artifact.sha256);
    const model = await loadModel(join(PROJECT_ROOT, prod.artifact.path));
    expect(facts.serving).toEqual({ name: "thermal-comfort", version: prod.version, sha256: prod.artifact.sha256, content_sha256: modelContentHash(model) });
  });

  it("has the compiled CLI with serve, production dependencies only, and no sources or type declarations", () => {
    expect(facts.cli).toBe(true);
    expect(facts.help).toMatch(/^\s+serve\b/m);
    expect(facts.fastify).toBe(true);
    expect(facts.typescript).toBe(false);
    expect(facts.vitest).toBe(false);
    expect(facts.sources).toBe(false);
    expect(facts.declarations).toBe(0);
  });

  it("runs as 65532, which cannot overwrite the model", () => {
    expect(facts.uid).toBe(65532);
    expect(facts.writable).toBe(false);
  });

  it("pins every file time to SOURCE_DATE_EPOCH (reproducible layers)", () => {
    expect(facts.modelMtime).toBe(SOURCE_DATE_EPOCH);
  });
});

describe("running the image (runImage: buildah run --isolation chroot, host network)", () => {
  let running: RunningImage | null = null;
  afterAll(async () => {
    await running?.stop();
  }, HOOK_TIMEOUT);

  it("answers /health, /ready and /predict from the baked-in model, and stops cleanly", async () => {
    running = await runImage({ reference: built.reference, port: 0, storage, startTimeoutMs: 120_000 });
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${running.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "healthy" });

    const ready = await fetch(`${running.url}/ready`);
    const readyBody = (await ready.json()) as { ready: boolean };
    expect({ status: ready.status, ready: readyBody.ready }).toEqual({ status: 200, ready: true });

    const prod = productionVersion(await readRegistry(PROJECT_ROOT), "thermal-comfort")!;
    const model = await loadModel(join(PROJECT_ROOT, prod.artifact.path));
    const [header, first] = (await readFile(join(PROJECT_ROOT, "data/thermal-comfort.csv"), "utf8")).split("\n");
    const columns = header!.split(",");
    const values = first!.split(",");
    const record: Record<string, string | number> = {};
    for (const f of model.features) {
      const raw = values[columns.indexOf(f.name)]!;
      record[f.name] = f.type === "number" ? Number(raw) : raw;
    }
    const res = await fetch(`${running.url}/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(record) });
    const body = (await res.json()) as { class: string; probabilities: Record<string, number>; content_sha256: string };
    expect(res.status).toBe(200);
    expect(model.classes).toContain(body.class);
    expect(Object.values(body.probabilities).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(body.content_sha256).toBe(modelContentHash(model));
    expect(res.headers.get("x-model-version")).toBe(String(prod.version));

    const handle = running;
    const { url, container } = handle;
    await handle.stop();
    running = null;
    // SIGTERM reached the server itself (buildah alone would SIGKILL it): it drained and said so.
    // (stdout and stderr arrive on separate pipes, so the two lines may come in either order).
    const logs = handle.logs().join("\n");
    expect(logs).toContain('"event":"draining"');
    expect(logs).toContain('"event":"stopped"');
    await expect(fetch(`${url}/health`)).rejects.toThrow();
    const left = await buildah(["containers", "--format", "{{.ContainerName}}"], storage);
    expect(left.split("\n")).not.toContain(container);
  }, HOOK_TIMEOUT);
});
