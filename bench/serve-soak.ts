/**
 * Soak: `pipeline serve` with the production forest at its measured maximum for 60 s; there must be
 * no errors, no non-2xx answers and no timeouts. Prints the rate held, latency and resident memory
 * before and after (a leak shows as memory that keeps growing; nothing here is asserted by a test).
 *
 *   npm run bench:serve-soak       (npx tsx bench/serve-soak.ts [--seconds 60] [--connections 50] [--probe 10])
 *
 * The maximum is measured first (--probe seconds, unthrottled, 50 connections); the soak then holds
 * that rate (autocannon overallRate) with the same connections.
 */
import { benchConfig, buildServer, fmt, load, machine, RECORD, rssMb, startPipelineServer } from "./serve-common.js";

function parseArgs(argv: string[]): { seconds: number; connections: number; probe: number } {
  const args = { seconds: 60, connections: 50, probe: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--seconds") args.seconds = Number(argv[++i]);
    else if (a === "--connections") args.connections = Number(argv[++i]);
    else if (a === "--probe") args.probe = Number(argv[++i]);
    else throw new Error(`unknown option ${a}`);
  }
  return args;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const body = JSON.stringify(RECORD);
  console.log(`bench/serve-soak: probe ${args.probe} s, then ${args.seconds} s at the measured maximum, ${args.connections} connections`);
  console.log(`machine at start: ${machine()}`);
  const serverCommand = await buildServer();
  const server = await startPipelineServer(serverCommand, await benchConfig());
  const url = `${server.url}/predict`;
  await load(url, body, { connections: args.connections, seconds: 2 });
  const probe = await load(url, body, { connections: args.connections, seconds: args.probe });
  const rate = Math.floor(probe.requests_per_second);
  const rssBefore = await rssMb(server.child.pid!);
  console.log(`measured maximum: ${rate} req/s (p99 ${fmt(probe.p99_ms)} ms); soaking at that rate`);
  const soak = await load(url, body, { connections: args.connections, seconds: args.seconds, overallRate: rate });
  const rssAfter = await rssMb(server.child.pid!);
  const ready = await fetch(`${server.url}/ready`);
  await server.stop();
  const failures = soak.errors + soak.timeouts + soak.non2xx;
  console.log(`machine at end: ${machine()}`);
  console.log(`soak: ${soak.total} requests in ${args.seconds} s (${fmt(soak.requests_per_second, 0)} req/s held of ${rate} asked), p50 ${fmt(soak.p50_ms)} ms, p99 ${fmt(soak.p99_ms)} ms, max ${fmt(soak.max_ms)} ms`);
  console.log(`errors ${soak.errors}, timeouts ${soak.timeouts}, non-2xx ${soak.non2xx}   (goal: none)`);
  console.log(`resident memory: ${fmt(rssBefore)} MB before the soak, ${fmt(rssAfter)} MB after; /ready after the soak: ${ready.status}`);
  process.exitCode = failures === 0 && ready.status === 200 ? 0 : 1;
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
