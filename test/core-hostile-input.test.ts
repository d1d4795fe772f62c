import { execFileSync, spawn } from "node:child_process";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { Worker } from "node:worker_threads";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../pipeline/config/load.js";
import { processAlive, writeDirAtomic, writeFileAtomic, writeJsonAtomic } from "../pipeline/core/atomic.js";
import { onInterrupt, removeNow, withCleanup } from "../pipeline/core/cleanup.js";
import { ConfigError, InputError } from "../pipeline/core/errors.js";
import { consoleReporter } from "../pipeline/core/reporter.js";
import { assertDirInside, checkRegularFile, readFileSafe, UnsafeFileError } from "../pipeline/core/safe-file.js";
import { MAX_YAML_ALIASES, parseYamlStrict } from "../pipeline/core/yaml.js";
import { parseRegistry } from "../pipeline/registry/store.js";

/**
 * The shared core under hostile or unusual input: YAML that is not UTF-8 or tries prototype keys,
 * mapping keys or an alias bomb; files that are FIFOs, devices, sockets, symlinks, too large or
 * outside their folder; atomic writes onto the wrong kind of path; cleanups on a signal; and the
 * console reporter's masking and annotations. Every error must name the file (and where in it).
 */

const dirs: string[] = [];
async function scratch(prefix = "core-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe("YAML from files a pull request can change", () => {
  it("a config that is not UTF-8 is refused with its file, line, column and the byte", async () => {
    const root = await scratch();
    await mkdir(join(root, "config"));
    const bytes = Buffer.concat([Buffer.from("version: 1\nmodel:\n  name: caf"), Buffer.from([0xe9]), Buffer.from("\n")]);
    await writeFile(join(root, "config/latin1.yaml"), bytes);
    const error = await loadConfig("config/latin1.yaml", root).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(`${join(root, "config/latin1.yaml")}:3:12: not valid UTF-8 (byte 0xe9); save the file as UTF-8`);
  });

  it("an invalid byte on the first line, at its first column, is located too", () => {
    expect(() => parseYamlStrict(Buffer.from([0xff, 0x61, 0x3a, 0x20, 0x31]), "x.yaml", InputError)).toThrow("x.yaml:1:1: not valid UTF-8 (byte 0xff)");
  });

  it("valid UTF-8 bytes parse like the same text", () => {
    expect(parseYamlStrict(Buffer.from("name: café\nlist: [1, 2]\n"), "ok.yaml", InputError)).toEqual({ name: "café", list: [1, 2] });
  });

  it("keys that would reach an object's prototype are refused with their line", () => {
    expect(() => parseYamlStrict("a: 1\nb:\n  __proto__: { polluted: true }\n", "registry.yaml", InputError)).toThrow('registry.yaml:3: invalid YAML: the key "__proto__" is not allowed');
    expect(() => parseYamlStrict("constructor: 1\n", "c.yaml", InputError)).toThrow('c.yaml:1: invalid YAML: the key "constructor" is not allowed');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("a mapping used as a key is refused", () => {
    expect(() => parseYamlStrict("? { a: 1 }\n: value\n", "m.yaml", InputError)).toThrow("m.yaml: invalid YAML: a mapping used as a key is not allowed");
  });

  it("an alias bomb is refused before it expands, naming the limit", () => {
    // Nine levels, each holding the previous level ten times: 10^9 nodes if expanded.
    const lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"];
    for (let i = 1; i <= 9; i++) lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(", ")}]`);
    const error = (() => {
      try {
        parseYamlStrict(lines.join("\n") + "\n", "bomb.yaml", InputError);
        return null;
      } catch (e) {
        return e as Error;
      }
    })();
    expect(error).toBeInstanceOf(InputError);
    expect(error!.message).toBe(`bomb.yaml: invalid YAML: too many alias expansions (limit ${MAX_YAML_ALIASES}); aliases that expand to huge documents are refused`);
  });

  it("a few aliases, well under the limit, are expanded", () => {
    expect(parseYamlStrict("base: &b { cpu: 1 }\nstaging: *b\nproduction: *b\n", "a.yaml", InputError)).toEqual({ base: { cpu: 1 }, staging: { cpu: 1 }, production: { cpu: 1 } });
  });

  it("the registry reader applies the same limits and names the registry file", () => {
    expect(() => parseRegistry("version: 1\nmodels:\n  prototype: {}\n", "models/registry.yaml")).toThrow('models/registry.yaml:3: invalid YAML: the key "prototype" is not allowed');
  });
});

describe("reading only regular files", () => {
  it("refuses a directory, a FIFO, a device and a socket, saying which it is", async () => {
    const dir = await scratch();
    const fifo = join(dir, "fifo");
    execFileSync("mkfifo", [fifo]);
    const socketPath = join(dir, "sock");
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(socketPath, r));
    try {
      const problem = async (path: string) => {
        const e = await checkRegularFile(path, { what: "model artifact" }).catch((error: unknown) => error);
        expect(e).toBeInstanceOf(UnsafeFileError);
        return [(e as UnsafeFileError).problem, (e as Error).message];
      };
      expect(await problem(dir)).toEqual(["not-regular", `${dir}: model artifact is a directory; expected a regular file`]);
      expect(await problem(fifo)).toEqual(["not-regular", `${fifo}: model artifact is a FIFO; expected a regular file`]);
      expect(await problem("/dev/null")).toEqual(["not-regular", "/dev/null: model artifact is a device; expected a regular file"]);
      expect(await problem(socketPath)).toEqual(["not-regular", `${socketPath}: model artifact is a socket; expected a regular file`]);
      // readFileSafe checks first, so a FIFO is never opened (which would block the reader).
      await expect(readFileSafe(fifo)).rejects.toThrow(/is a FIFO/);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it("follows a symlink only when allowed; a config that is a dangling symlink is a clear error naming it", async () => {
    const dir = await scratch();
    await writeFile(join(dir, "target.json"), "0123456789");
    await symlink(join(dir, "target.json"), join(dir, "link.json"));
    await symlink(join(dir, "gone.yaml"), join(dir, "dangling.yaml"));
    await expect(checkRegularFile(join(dir, "link.json"))).rejects.toMatchObject({ problem: "symlink" });
    await expect(readFileSafe(join(dir, "link.json"))).rejects.toThrow(`${join(dir, "link.json")}: file is a symbolic link; only regular files are read`);
    expect(await checkRegularFile(join(dir, "link.json"), { allowSymlink: true })).toBe(10);
    expect((await readFileSafe(join(dir, "link.json"), { allowSymlink: true })).toString()).toBe("0123456789");
    await expect(checkRegularFile(join(dir, "dangling.yaml"), { allowSymlink: true })).rejects.toMatchObject({ problem: "missing", message: `${join(dir, "dangling.yaml")}: file is a symbolic link to a file that does not exist` });
    // Configs may be symlinks (allowSymlink): a dangling one is refused with the file and the reason.
    await expect(loadConfig("dangling.yaml", dir)).rejects.toThrow(`${join(dir, "dangling.yaml")}: cannot read configuration (file not found)`);
  });

  it("refuses a file over the cap, by its size or, for a file that reports less than it holds, while reading", async () => {
    const dir = await scratch();
    await writeFile(join(dir, "big.json"), "x".repeat(11));
    await expect(checkRegularFile(join(dir, "big.json"), { maxBytes: 10, what: "registry" })).rejects.toThrow(`${join(dir, "big.json")}: registry is 11 bytes, over the 10-byte limit`);
    expect((await readFileSafe(join(dir, "big.json"), { maxBytes: 11 })).length).toBe(11);
    // /proc files report size 0 and then yield their content: the read itself stops at the cap.
    expect((await stat("/proc/self/status")).size).toBe(0);
    const e = await readFileSafe("/proc/self/status", { maxBytes: 16, what: "status" }).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(UnsafeFileError);
    expect((e as UnsafeFileError).problem).toBe("too-large");
    expect((e as Error).message).toBe("/proc/self/status: status is over the 16-byte limit");
  });

  it("with `inside`, refuses a file that resolves outside the folder through a symlinked directory", async () => {
    const repo = await scratch();
    const elsewhere = await scratch("elsewhere-");
    await writeFile(join(elsewhere, "secret.json"), "{}");
    await symlink(elsewhere, join(repo, "models"));
    const path = join(repo, "models/secret.json");
    const e = await checkRegularFile(path, { inside: repo, what: "model artifact" }).catch((error: unknown) => error);
    expect((e as UnsafeFileError).problem).toBe("outside");
    expect((e as Error).message).toContain(`${path}: model artifact resolves to ${join(elsewhere, "secret.json")}, outside ${repo}`);
    // A folder that does not exist is an OS error naming the file, not a crash.
    await expect(checkRegularFile(path, { inside: join(repo, "missing") })).rejects.toThrow(/ENOENT/);
    // Inside its own folder the same file is fine.
    expect(await checkRegularFile(path, { inside: elsewhere })).toBe(2);
  });

  it("a path that cannot even be looked up is an OS error naming it", async () => {
    const dir = await scratch();
    const long = join(dir, "n".repeat(300));
    const e = await checkRegularFile(long).catch((error: unknown) => error);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`${long}: cannot read it: file name too long [ENAMETOOLONG] (lstat)`);
    // A path through a regular file is "missing", like a missing file.
    await writeFile(join(dir, "plain"), "x");
    await expect(checkRegularFile(join(dir, "plain/child"))).rejects.toMatchObject({ problem: "missing" });
  });

  it("assertDirInside refuses an output folder that resolves outside the repository, and names an unreadable one", async () => {
    const repo = await scratch();
    const elsewhere = await scratch("elsewhere-");
    await symlink(elsewhere, join(repo, "models"));
    await expect(assertDirInside(repo, "models", "the models folder")).rejects.toThrow(`models: the models folder resolves to ${elsewhere}, outside the repository ${repo}; refusing to write there`);
    await expect(assertDirInside(repo, "not-yet", "the output")).resolves.toBeUndefined();
    await writeFile(join(repo, "file"), "x");
    await expect(assertDirInside(repo, "file/sub", "the output")).rejects.toThrow(`${join(repo, "file/sub")}: cannot read it: a part of the path is not a directory [ENOTDIR]`);
  });
});

describe("atomic writes", () => {
  it("refuses to write a file over a directory, before any temporary file exists", async () => {
    const dir = await scratch();
    await mkdir(join(dir, "report.json"));
    await expect(writeJsonAtomic(join(dir, "report.json"), { a: 1 })).rejects.toThrow(`${join(dir, "report.json")}: is a directory; name a file to write`);
    expect(await readdir(dir)).toEqual(["report.json"]);
  });

  it("an error inside the write leaves the old content and no temporary file", async () => {
    const dir = await scratch();
    const path = join(dir, "model.json");
    await writeFileAtomic(path, "old\n");
    await expect(writeFileAtomic(path, 42 as unknown as string)).rejects.toThrow();
    expect(await readFile(path, "utf8")).toBe("old\n");
    expect(await readdir(dir)).toEqual(["model.json"]);
  });

  it("with mkdir: false, a write into a folder that is gone fails and does not create it again", async () => {
    // What a staging folder's writes rely on: a signal's cleanup that removed the folder mid-write
    // must not see it come back from a mkdir still on the thread pool.
    const dir = await scratch();
    const gone = join(dir, ".staging-v2-1-00000000");
    await expect(writeFileAtomic(join(gone, "model.json"), "{}", { mkdir: false })).rejects.toThrow(join(gone, "model.json"));
    expect(await readdir(dir)).toEqual([]);
    await writeFileAtomic(join(gone, "model.json"), "{}");
    expect(await readdir(gone)).toEqual(["model.json"]);
  });

  it("writeDirAtomic refuses a file in place of the folder and a folder holding other files (listing at most five)", async () => {
    const parent = await scratch();
    await writeFile(join(parent, "out"), "a file");
    await expect(writeDirAtomic(join(parent, "out"), [{ name: "model.json", data: "{}" }])).rejects.toThrow(`${join(parent, "out")}: exists and is not a directory; name a folder for the output`);
    await mkdir(join(parent, "busy"));
    for (const n of ["a", "b", "c", "d", "e", "f"]) await writeFile(join(parent, "busy", n), n);
    await writeFile(join(parent, "busy", "model.json"), "previous");
    await expect(writeDirAtomic(join(parent, "busy"), [{ name: "model.json", data: "{}" }])).rejects.toThrow(`${join(parent, "busy")}: holds files this step does not write (a, b, c, d, e, …); name a new or empty folder`);
    expect(await readFile(join(parent, "busy", "model.json"), "utf8")).toBe("previous");
  });

  it("removes staging folders left by a dead process, keeps those of live ones, and replaces a previous output", async () => {
    const parent = await scratch();
    const dead = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
      child.on("exit", () => resolve(child.pid!));
    });
    expect(processAlive(dead)).toBe(false);
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(1)).toBe(true);
    const deadStaging = join(parent, `.out.staging-${dead}-deadbeef`);
    const liveStaging = join(parent, `.out.old-${process.ppid}-cafe0123`);
    await mkdir(deadStaging);
    await mkdir(liveStaging);
    await writeDirAtomic(join(parent, "out"), [{ name: "model.json", data: "v1" }]);
    await writeDirAtomic(join(parent, "out"), [
      { name: "model.json", data: "v2" },
      { name: "metrics.json", data: "{}" },
    ]);
    expect((await readdir(join(parent, "out"))).sort()).toEqual(["metrics.json", "model.json"]);
    expect(await readFile(join(parent, "out/model.json"), "utf8")).toBe("v2");
    const left = await readdir(parent);
    expect(left).not.toContain(`.out.staging-${dead}-deadbeef`);
    expect(left).toContain(`.out.old-${process.ppid}-cafe0123`);
    expect(left.filter((n) => n.startsWith(".out.") && !n.includes(String(process.ppid)))).toEqual([]);
  });
});

describe("cleanup on interrupt", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("removeNow also removes a folder that an operation already in flight makes again after the first pass", async () => {
    const dir = await scratch();
    const staging = join(dir, ".staging-v2-1-00000000");
    await mkdir(staging);
    // Another thread stands in for a mkdir on libuv's thread pool: it makes the folder again as soon
    // as it is gone, without this thread's event loop (which a signal handler blocks until exit).
    const racer = new Worker(
      `const { existsSync, mkdirSync } = require("node:fs"); const { parentPort, workerData } = require("node:worker_threads");
       parentPort.postMessage("watching");
       const end = Date.now() + 5000;
       while (existsSync(workerData) && Date.now() < end);
       try { mkdirSync(workerData); } catch {}`,
      { eval: true, workerData: staging },
    );
    await new Promise((r) => racer.once("message", r));
    removeNow(staging);
    await new Promise((r) => racer.once("exit", r));
    expect(await readdir(dir)).toEqual([]);
  });

  it("withCleanup runs the cleanup when the body ends, also when it throws; an async cleanup replaces the sync one", async () => {
    const calls: string[] = [];
    expect(await withCleanup(() => calls.push("sync"), async () => "result")).toBe("result");
    await expect(
      withCleanup(
        () => calls.push("sync-2"),
        async () => {
          throw new Error("body failed");
        },
      ),
    ).rejects.toThrow("body failed");
    await withCleanup(
      () => calls.push("sync-3"),
      async () => undefined,
      async () => void calls.push("async-3"),
    );
    expect(calls).toEqual(["sync", "sync-2", "async-3"]);
  });

  it("on SIGTERM runs every registered cleanup, newest first, past a failing one, and exits with 143", async () => {
    const before = new Set(process.listeners("SIGTERM"));
    const calls: string[] = [];
    const dir = await scratch();
    await writeFile(join(dir, "partial"), "half-written");
    const offs = [
      onInterrupt(() => calls.push("first")),
      onInterrupt(() => {
        calls.push("failing");
        throw new Error("cleanup failed");
      }),
      onInterrupt(() => {
        calls.push("remove");
        removeNow(dir);
      }),
    ];
    const added = process.listeners("SIGTERM").filter((l) => !before.has(l));
    expect(added).toHaveLength(1);
    const exit = vi.spyOn(process, "exit").mockImplementation((() => undefined) as never);
    (added[0] as () => void)();
    expect(calls).toEqual(["remove", "failing", "first"]);
    expect(exit).toHaveBeenCalledWith(143);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
    // Unregistering the last cleanup detaches the listeners again.
    for (const off of offs) off();
    expect(process.listeners("SIGTERM")).not.toContain(added[0]);
    expect(process.listeners("SIGINT").filter((l) => !before.has(l))).toEqual([]);
  });
});

describe("the console reporter", () => {
  const capture = () => {
    const stream = new PassThrough();
    let text = "";
    stream.on("data", (d: Buffer) => (text += d.toString()));
    return { stream, text: () => text };
  };

  it("masks registered secrets and token shapes, and names the annotation's file, line and column", () => {
    const out = capture();
    const r = consoleReporter({ stream: out.stream });
    r.secret("s3cr3t-value-registered");
    r.info("using s3cr3t-value-registered now");
    r.warning("token ghp_abcdefghijklmnop0123 leaked", { file: "config/pipeline.yaml", startLine: 12, startColumn: 3 });
    r.error("failed", { file: "data/x.csv", startLine: 4 });
    r.error("no place", { title: "only a title" });
    r.summary("# not printed");
    r.output("name", "not printed");
    expect(out.text()).toBe(
      ["using *** now", "warning: token *** leaked (config/pipeline.yaml:12:3)", "error: failed (data/x.csv:4)", "error: no place", ""].join("\n"),
    );
  });

  it("off a terminal, progress prints one final line at the end; quiet keeps only warnings and errors", () => {
    const out = capture();
    const r = consoleReporter({ stream: out.stream });
    r.progress!({ label: "train forest", done: 1, total: 4, unit: "trees" });
    r.progress!({ label: "train forest", done: 4, total: 4, unit: "trees" });
    expect(out.text()).toBe("");
    r.progressEnd!();
    expect(out.text()).toMatch(/^train forest █{24} 4\/4 trees, \d+\.\d s\n$/);
    r.progressEnd!();
    expect(out.text().split("\n")).toHaveLength(2);

    const quietOut = capture();
    const quiet = consoleReporter({ quiet: true, stream: quietOut.stream });
    quiet.info("hidden");
    quiet.progress!({ label: "hidden", done: 1, total: 2 });
    quiet.progressEnd!();
    quiet.warning("shown");
    expect(quietOut.text()).toBe("warning: shown\n");
  });
});
