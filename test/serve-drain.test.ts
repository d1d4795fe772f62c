import { spawn, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { rm } from "node:fs/promises";
import { resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROJECT_ROOT, TSX_LOADER } from "./helpers/cli.js";
import { bakedModelDir, GOOD_RECORD } from "./helpers/serve.js";

/**
 * SIGTERM drain with a real process, the way Cloud Run stops an instance: a request that is in
 * flight when the signal arrives completes, a new connection is refused, the process exits 0.
 */

const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface Served {
  child: ChildProcess;
  port: number;
  exit: Promise<number | null>;
  output: () => string;
}

async function startServe(env: NodeJS.ProcessEnv): Promise<Served> {
  const baked = await bakedModelDir();
  dirs.push(baked.dir);
  const child = spawn(process.execPath, ["--import", TSX_LOADER, resolve(PROJECT_ROOT, "cli/main.ts"), "serve", "--model", baked.model, "--host", "127.0.0.1"], {
    cwd: baked.dir,
    env: { ...process.env, PORT: "0", K_SERVICE: "drain-test", K_REVISION: "drain-test-00001", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 90_000);
    const check = () => {
      const m = /"event":"listening","port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    child.stdout!.on("data", check);
    void exit.then((code) => reject(new Error(`server exited ${code} before listening:\n${out}`)));
  });
  return { child, port, exit, output: () => out };
}

function open(port: number): Promise<Socket> {
  return new Promise((r, reject) => {
    const s = connect(port, "127.0.0.1", () => r(s));
    s.once("error", reject);
  });
}

function responseOf(socket: Socket): Promise<string> {
  return new Promise((r) => {
    let data = "";
    socket.on("data", (d) => (data += d));
    socket.on("close", () => r(data));
  });
}

describe("SIGTERM drain", () => {
  it("finishes the in-flight request, refuses new connections and exits 0", async () => {
    const served = await startServe({});
    const body = JSON.stringify(GOOD_RECORD);
    // A request whose body is still arriving when the signal comes.
    const inflight = await open(served.port);
    const answer = responseOf(inflight);
    inflight.write(`POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: in-flight-1\r\n\r\n`);
    inflight.write(body.slice(0, 20));
    // An idle keep-alive connection, which the drain closes.
    const idle = await open(served.port);
    const idleClosed = responseOf(idle);
    await new Promise((r) => setTimeout(r, 200));

    served.child.kill("SIGTERM");
    // The listener closes at once: a new connection is refused while the old request is still open.
    let refused: string | null = null;
    for (let i = 0; i < 50 && refused === null; i++) {
      await new Promise((r) => setTimeout(r, 100));
      refused = await open(served.port).then(
        (s) => {
          s.destroy();
          return null;
        },
        (e: NodeJS.ErrnoException) => e.code ?? "error",
      );
    }
    expect(refused).toBe("ECONNREFUSED");
    expect(served.child.exitCode).toBeNull();

    inflight.write(body.slice(20));
    const raw = await answer;
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(raw).toMatch(/x-request-id: in-flight-1/i);
    const json = JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4));
    expect(["cool", "neutral", "warm"]).toContain(json.class);
    expect(await idleClosed).toBe("");

    const code = await served.exit;
    if (code !== 0) console.log(served.output());
    expect(code).toBe(0);
    const lines = served.output();
    expect(lines).toMatch(/"event":"draining","reason":"SIGTERM"/);
    expect(lines).toMatch(/"event":"stopped"/);
    // The in-flight prediction was logged (and flushed) before the exit.
    expect(lines).toMatch(/"event":"prediction","request_id":"in-flight-1"/);
    expect(lines).toMatch(/"service":"drain-test","revision":"drain-test-00001"/);
  });

  it("closes a kept-alive connection that has finished its request, and one that never sent a byte, without waiting for the bound", async () => {
    const served = await startServe({});
    const body = JSON.stringify(GOOD_RECORD);
    const used = await open(served.port);
    const usedAnswer = responseOf(used);
    used.write(`POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    const silent = await open(served.port);
    const silentClosed = responseOf(silent);
    await new Promise((r) => setTimeout(r, 500));
    const started = Date.now();
    served.child.kill("SIGTERM");
    expect(await served.exit).toBe(0);
    // Well inside the 10 s bound: nobody waited for the two idle connections.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(await usedAnswer).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*Connection: keep-alive/);
    expect(await silentClosed).toBe("");
  });
});
