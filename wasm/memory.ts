// AssemblyScript: memory helpers shared by the growers in this folder (see forest-grower.ts).

@inline export function i32At(p: usize, i: i32): i32 {
  return load<i32>(p + (<usize>i << 2));
}
@inline export function setI32(p: usize, i: i32, v: i32): void {
  store<i32>(p + (<usize>i << 2), v);
}
@inline export function f64At(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}
@inline export function setF64(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}
@inline export function addF64(p: usize, i: i32, v: f64): void {
  const a = p + (<usize>i << 3);
  store<f64>(a, load<f64>(a) + v);
}

export function align8(p: usize): usize {
  return (p + 7) & ~(<usize>7);
}

/** Grows the memory to at least `end` bytes (traps when it cannot). */
export function ensureMemory(end: usize): void {
  const have = <usize>memory.size() << 16;
  if (end > have) {
    const pages = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(pages) < 0) unreachable();
  }
}
