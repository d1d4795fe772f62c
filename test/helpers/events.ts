import { createRequire } from "node:module";

/**
 * Real webhook payloads (GitHub's own examples, as collected in @octokit/webhooks-examples) and the
 * environment the runner derives from them, so a bundled action can be run under each event the
 * workflows use. `schedule` has no webhook: its payload is what the runner writes (the cron string).
 */
const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples/api.github.com/index.json") as { name: string; examples: Record<string, unknown>[] }[];

export type EventName = "push" | "pull_request" | "workflow_dispatch" | "schedule" | "repository_dispatch";
export const EVENT_NAMES: EventName[] = ["push", "pull_request", "workflow_dispatch", "schedule", "repository_dispatch"];

function example(name: string, pick: (e: Record<string, unknown>) => boolean = () => true): Record<string, unknown> {
  const found = examples.find((e) => e.name === name)?.examples.find(pick);
  if (!found) throw new Error(`no ${name} example in @octokit/webhooks-examples`);
  return structuredClone(found);
}

export interface RunnerEvent {
  name: EventName;
  payload: Record<string, unknown>;
  env: Record<string, string>;
}

/** A payload for `name` in repository `owner/repo`, with the GITHUB_* variables the runner sets for it. */
export function runnerEvent(name: EventName, repository = "acme/thermal-comfort"): RunnerEvent {
  let payload: Record<string, unknown>;
  let ref = "refs/heads/main";
  const extra: Record<string, string> = {};
  switch (name) {
    case "push":
      payload = example("push", (e) => e.ref === "refs/heads/main" || typeof e.ref === "string");
      payload.ref = ref;
      break;
    case "pull_request": {
      payload = example("pull_request", (e) => e.action === "opened");
      const pr = payload.pull_request as { number: number; head: { ref: string }; base: { ref: string }; html_url: string };
      pr.head.ref = `promote/thermal-comfort-v2`;
      pr.base.ref = "main";
      pr.html_url = `https://github.com/${repository}/pull/${pr.number}`;
      ref = `refs/pull/${pr.number}/merge`;
      extra.GITHUB_HEAD_REF = pr.head.ref;
      extra.GITHUB_BASE_REF = pr.base.ref;
      break;
    }
    case "workflow_dispatch":
      payload = example("workflow_dispatch");
      payload.inputs = { data: "", candidates: "", force: "false" };
      payload.ref = ref;
      break;
    case "repository_dispatch":
      payload = example("repository_dispatch");
      payload.action = "drift-detected";
      payload.client_payload = { model: "thermal-comfort", drifted: ["ta"] };
      break;
    case "schedule":
      payload = { schedule: "0 2 * * 0" };
      break;
  }
  const [owner] = repository.split("/");
  const sender = (payload.sender as { login?: string } | undefined)?.login ?? "github-actions[bot]";
  const repo = (payload.repository ?? {}) as Record<string, unknown>;
  payload.repository = { ...repo, full_name: repository, name: repository.split("/")[1], owner: { ...((repo.owner as object) ?? {}), login: owner } };
  return {
    name,
    payload,
    env: {
      GITHUB_EVENT_NAME: name,
      GITHUB_REF: ref,
      GITHUB_REPOSITORY: repository,
      GITHUB_REPOSITORY_OWNER: owner!,
      GITHUB_ACTOR: name === "schedule" ? "github-actions[bot]" : sender,
      GITHUB_SERVER_URL: "https://github.com",
      GITHUB_API_URL: "https://api.github.com",
      GITHUB_RUN_ID: "1234567890",
      GITHUB_RUN_ATTEMPT: "1",
      GITHUB_WORKFLOW: "train",
      ...extra,
    },
  };
}
