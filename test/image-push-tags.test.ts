import { describe, expect, it } from "vitest";
import { PipelineConfigSchema } from "../pipeline/config/schema.js";
import { googleRegistryHosts, isGoogleRegistry, pushTags } from "../pipeline/image/registry-login.js";
import { loadConfig } from "../pipeline/config/load.js";
import { PROJECT_ROOT } from "./helpers/cli.js";

describe("image push tags and registry login", () => {
  it("tags the config's repository with the commit, and nothing without a repository", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const withRepo = { ...config, image: { repository: "europe-west1-docker.pkg.dev/acme/models/thermal-comfort" } };
    expect(pushTags(withRepo, "0123456789abcdef0123")).toEqual(["europe-west1-docker.pkg.dev/acme/models/thermal-comfort:0123456789ab"]);
    expect(pushTags({ ...config, image: {} }, "0123456789abcdef")).toEqual([]);
  });

  it("knows which registries take a Google token", () => {
    expect(isGoogleRegistry("europe-west1-docker.pkg.dev")).toBe(true);
    expect(isGoogleRegistry("gcr.io")).toBe(true);
    expect(isGoogleRegistry("eu.gcr.io")).toBe(true);
    expect(isGoogleRegistry("127.0.0.1:5000")).toBe(false);
    expect(isGoogleRegistry("ghcr.io")).toBe(false);
    expect(isGoogleRegistry("pkg.dev.example.com")).toBe(false);
    expect(googleRegistryHosts(["europe-west1-docker.pkg.dev/a/b/c:1", "europe-west1-docker.pkg.dev/a/b/c:2", "localhost:5000/x:1"])).toEqual(["europe-west1-docker.pkg.dev"]);
  });

  it("refuses a repository that is not host/path, naming the key", async () => {
    const { config } = await loadConfig("config/pipeline.yaml", PROJECT_ROOT);
    const r = PipelineConfigSchema.safeParse({ ...config, image: { repository: "Thermal Comfort" } });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual(["image", "repository"]);
  });
});
