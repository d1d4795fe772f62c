/**
 * Instantiating the embedded WebAssembly modules (wasm/*.ts, built by scripts/build-wasm.mjs). Each
 * module is compiled once per thread. An instance has its own memory (each forest grower gets one),
 * unless its module imports a shared one (a boosting fit's threads, a served forest's threads).
 */

/** The part of the WebAssembly API used here (the ES2022 lib does not declare it; Node 20 and 24 have it). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

const compiled = new Map<string, object>();

/** A new instance of the module embedded as `base64`, with `env` as its imports; returns its exports. */
export function instantiateWasm(base64: string, env: Record<string, unknown>): unknown {
  let module = compiled.get(base64);
  if (!module) {
    module = new api.Module(Buffer.from(base64, "base64"));
    compiled.set(base64, module);
  }
  return new api.Instance(module, { env }).exports;
}

/** The part of WebAssembly.Memory used here (the ES2022 lib does not declare it). */
export interface SharedWasmMemory {
  readonly buffer: SharedArrayBuffer;
  /** Adds pages; returns the number there were before (atomically, on a shared memory). Throws a RangeError past the maximum. */
  grow(pages: number): number;
}

/** The maximum modules built with --sharedMemory declare (pages of 64 KiB): 4 GiB of address space, reserved, not taken. */
const MAX_PAGES = 65536;

/** A new shared memory for a module built with --importMemory --sharedMemory (the module or its caller grows it). */
export function newSharedWasmMemory(): SharedWasmMemory {
  const memory = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => SharedWasmMemory } }).WebAssembly.Memory;
  return new memory({ initial: 1, maximum: MAX_PAGES, shared: true });
}

/**
 * Runs a call into a module. The modules trap (a WebAssembly RuntimeError, "unreachable") only when their
 * memory cannot grow; that becomes an error saying so, for `what`.
 */
export function callWasm<T>(what: string, call: () => T): T {
  try {
    return call();
  } catch (err) {
    if (err instanceof Error && err.constructor.name === "RuntimeError") throw new Error(`${what}: out of WebAssembly memory (${err.message})`, { cause: err });
    throw err;
  }
}
