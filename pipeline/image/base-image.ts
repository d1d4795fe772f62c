import { chmod, copyFile, mkdir, mkdtemp, realpath, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { InputError } from "../core/errors.js";
import type { Reporter } from "../core/reporter.js";
import { buildah, runToolChecked, type BuildahStorage } from "./tools.js";

/**
 * A Node base image made from the local Node installation, for machines that cannot pull one
 * (no network, no registry credentials). It holds the node binary, the shared libraries `ldd`
 * says it links (with the loader), and what node needs at run time: /etc/passwd and /etc/group
 * with a non-root user (65532, as distroless), /etc/nsswitch.conf, CA certificates and a sticky
 * /tmp. No shell and no package manager: the Dockerfile uses exec-form RUN only, so the same
 * image serves as the builder and the runtime base. ICU's time-zone data is built into node, so
 * tzdata is optional.
 */
export interface BaseImageInput {
  /** Image name; default `localhost/pipeline-node-base:<node major>`. */
  tag?: string;
  /** The node binary; default the one running this process. */
  node?: string;
  /** Also copy /usr/share/zoneinfo (for code that reads TZ files directly). */
  tzdata?: boolean;
  /** Image and file times (seconds); default SOURCE_DATE_EPOCH, else the node binary's mtime, so rebuilding gives the same image. */
  timestamp?: number;
  storage?: BuildahStorage;
  reporter?: Reporter;
}

export interface BaseImageResult {
  reference: string;
  imageId: string;
  nodeVersion: string;
  /** Files copied from the host, image path → host path. */
  files: Record<string, string>;
}

export const BASE_USER = { uid: 65532, gid: 65532, name: "nonroot", home: "/home/nonroot" } as const;

/** `ldd` output → the absolute library paths (loader included, vdso skipped); a missing library is an error. */
export function parseLdd(output: string, binary: string): string[] {
  const libraries: string[] = [];
  for (const line of output.split("\n")) {
    const text = line.trim();
    if (!text || text.startsWith("linux-vdso") || text.startsWith("linux-gate")) continue;
    if (/=>\s*not found/.test(text)) throw new InputError(`${binary}: ldd cannot find ${text.split(/\s/)[0]}`);
    if (/statically linked/.test(text)) continue;
    const arrow = /=>\s*(\/\S+)/.exec(text);
    const direct = /^(\/\S+)\s/.exec(text);
    const path = arrow?.[1] ?? direct?.[1];
    if (path) libraries.push(path);
  }
  return [...new Set(libraries)];
}

export function defaultBaseTag(nodeVersion: string): string {
  return `localhost/pipeline-node-base:${nodeVersion.replace(/^v/, "").split(".")[0]}`;
}

async function copyInto(rootfs: string, hostPath: string, imagePath: string): Promise<void> {
  const target = join(rootfs, imagePath);
  await mkdir(dirname(target), { recursive: true });
  // copyFile follows symlinks: the image gets the real library under the name the loader asks for.
  await copyFile(await realpath(hostPath), target);
  await chmod(target, (await stat(hostPath)).mode & 0o777);
}

export async function buildBaseImage(input: BaseImageInput = {}): Promise<BaseImageResult> {
  const node = await realpath(input.node ?? process.execPath);
  const nodeVersion = (await runToolChecked(node, ["--version"])).trim();
  const reference = input.tag ?? defaultBaseTag(nodeVersion);
  const libraries = parseLdd(await runToolChecked("ldd", [node]), node);
  const timestamp = input.timestamp ?? (process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) : Math.floor((await stat(node)).mtimeMs / 1000));
  if (!Number.isInteger(timestamp) || timestamp < 0) throw new InputError(`SOURCE_DATE_EPOCH: expected whole seconds since 1970, got ${JSON.stringify(process.env.SOURCE_DATE_EPOCH)}`);

  const work = await mkdtemp(join(tmpdir(), "pipeline-base-"));
  const rootfs = join(work, "rootfs");
  const files: Record<string, string> = { "/usr/local/bin/node": node };
  for (const lib of libraries) files[lib] = lib;
  const ca = "/etc/ssl/certs/ca-certificates.crt";
  if (await stat(ca).catch(() => null)) files[ca] = ca;
  let container: string | null = null;
  try {
    for (const [imagePath, hostPath] of Object.entries(files)) await copyInto(rootfs, hostPath, imagePath);
    if (input.tzdata) {
      await mkdir(join(rootfs, "usr/share"), { recursive: true });
      await runToolChecked("cp", ["-rL", "/usr/share/zoneinfo", join(rootfs, "usr/share/zoneinfo")]);
      files["/usr/share/zoneinfo"] = "/usr/share/zoneinfo";
    }
    await mkdir(join(rootfs, "etc"), { recursive: true });
    await writeFile(join(rootfs, "etc/passwd"), `root:x:0:0:root:/root:/sbin/nologin\n${BASE_USER.name}:x:${BASE_USER.uid}:${BASE_USER.gid}:${BASE_USER.name}:${BASE_USER.home}:/sbin/nologin\n`);
    await writeFile(join(rootfs, "etc/group"), `root:x:0:\n${BASE_USER.name}:x:${BASE_USER.gid}:\n`);
    await writeFile(join(rootfs, "etc/nsswitch.conf"), "passwd: files\ngroup: files\nhosts: files dns\n");
    await mkdir(join(rootfs, "tmp"), { recursive: true });
    await chmod(join(rootfs, "tmp"), 0o1777);
    await mkdir(join(rootfs, "root"), { recursive: true, mode: 0o700 });
    const home = join(work, "home");
    await mkdir(home);

    const storage = input.storage ?? {};
    container = (await buildah(["from", "scratch"], storage)).trim();
    await buildah(["copy", "--quiet", container, `${rootfs}/`, "/"], storage);
    await buildah(["copy", "--quiet", "--chown", `${BASE_USER.uid}:${BASE_USER.gid}`, container, `${home}/`, BASE_USER.home], storage);
    await buildah(
      [
        "config",
        "--env", "PATH=/usr/local/bin:/usr/bin:/bin",
        "--env", `NODE_VERSION=${nodeVersion.replace(/^v/, "")}`,
        "--workingdir", "/",
        "--cmd", "node",
        "--label", "org.opencontainers.image.title=pipeline-node-base",
        "--label", `org.opencontainers.image.description=Node ${nodeVersion} from the local installation (binary, linked libraries, passwd, CA certificates)`,
        "--label", `org.opencontainers.image.version=${nodeVersion}`,
        container,
      ],
      storage,
    );
    const out = await buildah(["commit", "--quiet", "--rm", "--identity-label=false", "--timestamp", String(timestamp), container, reference], storage);
    container = null;
    const imageId = out.trim().split("\n").pop()!;
    input.reporter?.info(`base-image: ${reference} (${imageId.slice(0, 12)}) from ${node} ${nodeVersion} with ${libraries.length} libraries`);
    return { reference, imageId, nodeVersion, files };
  } finally {
    if (container) await buildah(["rm", container], input.storage ?? {}).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
}
