/**
 * Benchmark: the deploy's two figures on the Cloud Run stand-in with real `pipeline serve`
 * processes behind the revisions, against the original plan's targets:
 *   - deploy start → 100% of traffic on the new revision (target < 30 min);
 *   - a failed canary check → the recorded traffic split serving again (target < 15 min).
 * Each is the median of --repeats runs. The canary holds are the bench's (--hold seconds per step,
 * --min-requests), not production's; the projection line adds production's configured holds to
 * the measured overhead. Revision start-up on real Cloud Run (image pull, cold start) is not part
 * of the stand-in and not measured here. Nothing is asserted.
 *
 *   npm run bench:deploy -- [--repeats 3] [--hold 2] [--min-requests 20]
 */
import { join } from "node:path";
import { loadConfig } from "../pipeline/config/load.js";
import { recordingReporter } from "../pipeline/core/reporter.js";
import { deploy } from "../pipeline/deploy/index.js";
import { PROJECT_ROOT } from "../test/helpers/cli.js";
import { startCloudRunStandIn } from "../test/helpers/cloud-run-standin.js";
import { agreeingRows, faultProxy, imageRef, loadGenerator, makeDeployRoot, removeDeployRoots, startServe } from "../test/helpers/deploy-fixture.js";

function parseArgs(argv: string[]) {
  const args = { repeats: 3, hold: 2, minRequests: 20 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], Number(argv[i + 1])];
    if (!Number.isFinite(value)) throw new Error(`${flag} needs a number`);
    if (flag === "--repeats") args.repeats = value;
    else if (flag === "--hold") args.hold = value;
    else if (flag === "--min-requests") args.minRequests = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  return args;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fmt = (s: number) => (s < 1 ? `${Math.round(s * 1000)} ms` : s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const TOKEN = "bench-token";
  const SHA = "0123456789abcdef0123456789abcdef01234567";
  const envFor = (service: string) => ({
    target: "cloud-run",
    project: "bench-project",
    region: "europe-west1",
    service,
    probes: { startup: { path: "/ready", period_seconds: 1, timeout_seconds: 1, failure_threshold: 5 } },
    smoke: { ready_checks: 3, interval_seconds: 0.2, timeout_seconds: 30 },
    canary_steps: [10, 50, 100],
    // As in the tests: on a shared machine a single stalled request is the p99 of a small window.
    canary: { hold_seconds: args.hold, min_requests: args.minRequests, max_wait_seconds: 120, poll_seconds: 0.25, thresholds: { p99_ratio_floor_ms: 250 } },
  });
  const environments: Record<string, unknown> = {};
  for (let r = 0; r < args.repeats; r++) {
    environments[`ok-${r}`] = envFor(`bench-ok-${r}`);
    environments[`fail-${r}`] = envFor(`bench-fail-${r}`);
  }
  const fixture = await makeDeployRoot(environments);
  const { config } = await loadConfig(join(fixture.root, "config/pipeline.yaml"), fixture.root);
  const rows = await agreeingRows(fixture.v1Path, fixture.v2Path);
  const [v1, v2] = await Promise.all([startServe(fixture.root, "thermal-comfort@v1"), startServe(fixture.root, "thermal-comfort@v2")]);
  const healthy = config.promotion.gates.sanity.cases.length + config.environments["ok-0"]!.smoke.warmup_requests;
  const proxies: Awaited<ReturnType<typeof faultProxy>>[] = [];
  const upstreams = new Map([
    [imageRef("v1"), v1.url],
    [imageRef("v2"), v2.url],
  ]);
  const standIn = await startCloudRunStandIn({ token: TOKEN, startRevision: async ({ image }) => ({ url: upstreams.get(image)! }) });
  const env = { CLOUD_RUN_API_URL: standIn.apiUrl, CLOUD_RUN_ACCESS_TOKEN: TOKEN };
  const run = (environment: string, image: string, model: string) => deploy({ config, root: fixture.root, environment, image, model, gitSha: SHA, reporter: recordingReporter(), env });
  const toFull: number[] = [];
  const toRestore: number[] = [];
  const stepSeconds: number[] = [];
  const unexpected: string[] = [];
  const exposed: number[] = [];
  try {
    for (let r = 0; r < args.repeats; r++) {
      for (const kind of ["ok", "fail"] as const) {
        const environment = `${kind}-${r}`;
        const name = `projects/bench-project/locations/europe-west1/services/bench-${kind}-${r}`;
        const first = await run(environment, imageRef("v1"), "thermal-comfort@v1");
        if (first.result.outcome !== "deployed") throw new Error(`first deploy failed: ${first.result.reason}`);
        let image = imageRef("v2");
        if (kind === "fail") {
          const proxy = await faultProxy(v2.url, healthy);
          proxies.push(proxy);
          image = imageRef(`v2-faulty-${r}`);
          upstreams.set(image, proxy.url);
        }
        const load = loadGenerator(() => standIn.serviceUrl(name), rows);
        const out = await run(environment, image, "thermal-comfort@v2").finally(() => load.stop());
        const t = out.result.timings;
        const expected = kind === "ok" ? "deployed" : "rolled_back";
        if (out.result.outcome !== expected) unexpected.push(`${environment}: ${out.result.outcome} (${out.result.reason ?? ""})`);
        else if (kind === "ok") {
          toFull.push((t.fullTrafficAt! - t.startedAt) / 1000);
          stepSeconds.push(...out.result.steps.map((s) => s.heldSeconds));
        } else {
          toRestore.push((t.restoredAt! - t.failedAt!) / 1000);
          // From the moment the failing revision took traffic: the step's hold until the verdict, then the restore.
          exposed.push(out.result.steps.at(-1)!.heldSeconds + (t.restoredAt! - t.failedAt!) / 1000);
        }
        process.stderr.write(`run ${r + 1}/${args.repeats} ${kind}: ${out.result.outcome}\n`);
      }
    }
  } finally {
    await standIn.close();
    await Promise.all([v1.stop(), v2.stop(), ...proxies.map((p) => p.stop())]);
    await removeDeployRoots();
  }
  if (toFull.length === 0 || toRestore.length === 0) throw new Error(`no complete run: ${unexpected.join("; ")}`);
  const full = median(toFull);
  const restore = median(toRestore);
  const production = (await loadConfig(join(PROJECT_ROOT, "config/pipeline.yaml"), PROJECT_ROOT)).config.environments.production;
  const heldBefore100 = args.hold * 2;
  const overhead = Math.max(0, full - heldBefore100);
  console.log(`deploy on the Cloud Run stand-in, real servers behind revisions; ${args.repeats} runs each, median; canary 10 → 50 → 100 holding ${args.hold} s (min ${args.minRequests} requests) per step`);
  console.log("");
  console.log("| what | measured | target | share of target |");
  console.log("|---|---:|---:|---:|");
  console.log(`| deploy start → 100% traffic | ${fmt(full)} (runs: ${toFull.map((x) => x.toFixed(1)).join(", ")} s) | 30 min | ${((full / 1800) * 100).toFixed(2)}% |`);
  console.log(`| failed canary check → split restored | ${fmt(restore)} (runs: ${toRestore.map((x) => x.toFixed(3)).join(", ")} s) | 15 min | ${((restore / 900) * 100).toFixed(3)}% |`);
  console.log(`| failing revision takes 10% → split restored (detection + restore) | ${fmt(median(exposed))} (runs: ${exposed.map((x) => x.toFixed(2)).join(", ")} s) | 15 min | ${((median(exposed) / 900) * 100).toFixed(2)}% |`);
  if (production) {
    const holds = production.canary_steps.filter((s) => s < 100).length * production.canary.hold_seconds;
    const projected = overhead + holds;
    console.log(`| projection with production's holds (${production.canary_steps.join(" → ")}, ${production.canary.hold_seconds} s per step) | ${fmt(projected)} (${fmt(overhead)} measured overhead + ${fmt(holds)} of holds) | 30 min | ${((projected / 1800) * 100).toFixed(1)}% |`);
  }
  console.log("");
  for (const u of unexpected) console.log(`unexpected outcome, left out of the figures: ${u}`);
  console.log(`canary steps held ${fmt(median(stepSeconds))} (median of ${stepSeconds.length}); a step stops early once the new revision's 5xx share is over the limit on at least min_requests requests`);
}

await main();
