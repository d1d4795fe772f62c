import { z } from "zod";
import type { TreeJson } from "./artifact-schema.js";

/**
 * Compact, lossless encoding of an ensemble's trees for model.json (schema_version 2, `model.packed_trees`).
 * Decoding gives back exactly the same TreeJson arrays (every number the same double), so predictions and
 * the model content hash (computed over the decoded trees) do not depend on the encoding.
 *
 * - thresholds: a tree threshold is a midpoint between two observed values of its feature, so each feature
 *   uses few distinct thresholds: they are listed once per feature (JSON numbers, exact) and nodes hold an
 *   index into that list;
 * - leaf vectors (class probabilities rounded to 1e-4 in forests; raw scores in boosting) and node
 *   weights `n` are listed once each (distinct values) and nodes hold indices;
 * - the node stream is unsigned LEB128 varints, base64 in the JSON. Per node: feature + 1 (0 = leaf); an
 *   internal node then has (threshold index << 1 | missing_left) and left - id, and right - id unless
 *   every node's right child is left + 1 (`adjacent_children`); a leaf has its leaf-vector index; every
 *   node ends with its `n` index.
 * Serving-safe: no training code.
 */

export const PACKED_TREES_ENCODING = "varint-dict-v1";

export const PackedTreesSchema = z
  .object({
    encoding: z.literal(PACKED_TREES_ENCODING),
    /** Nodes per tree, in order. */
    nodes: z.array(z.number().int().positive()).min(1),
    /** Distinct thresholds per feature index (sorted); "features" is how many feature indices are listed. */
    thresholds: z.array(z.array(z.number())),
    /** Distinct leaf vectors. */
    leaves: z.array(z.array(z.number())),
    /** Distinct node weights. */
    n_values: z.array(z.number()),
    adjacent_children: z.boolean(),
    /** The varint node stream, base64. */
    data: z.string(),
  })
  .strict();
export type PackedTrees = z.infer<typeof PackedTreesSchema>;

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  length = 0;
  uint(v: number): void {
    if (this.length + 10 > this.buf.length) {
      const next = new Uint8Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    // Values stay below 2^53; division instead of bit operations keeps them exact above 2^31.
    while (v >= 0x80) {
      this.buf[this.length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.length++] = v;
  }
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** A dictionary of distinct values keyed by their exact JSON text (so -0 and 0 stay apart as JSON keeps them). */
class Dictionary<T> {
  readonly values: T[] = [];
  private readonly index = new Map<string, number>();
  id(key: string, value: T): number {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.values.length;
      this.values.push(value);
      this.index.set(key, i);
    }
    return i;
  }
}

export function encodeTrees(trees: TreeJson[]): PackedTrees {
  let adjacent = true;
  let nFeatures = 0;
  for (const t of trees) {
    for (let i = 0; i < t.feature.length; i++) {
      const f = t.feature[i]!;
      if (f < 0) continue;
      if (f + 1 > nFeatures) nFeatures = f + 1;
      if (t.right[i] !== t.left[i]! + 1) adjacent = false;
    }
  }
  // Threshold lists: distinct per feature, sorted, so that nearby thresholds get nearby indices.
  const perFeature: Set<number>[] = Array.from({ length: nFeatures }, () => new Set<number>());
  for (const t of trees) for (let i = 0; i < t.feature.length; i++) if (t.feature[i]! >= 0) perFeature[t.feature[i]!]!.add(t.threshold[i]!);
  const thresholds = perFeature.map((s) => Float64Array.from(s).sort());
  const thresholdIndex = thresholds.map((list) => {
    const m = new Map<number, number>();
    list.forEach((v, i) => m.set(v, i));
    return m;
  });
  const leaves = new Dictionary<number[]>();
  const nValues = new Dictionary<number>();
  const w = new ByteWriter();
  for (const t of trees) {
    const size = t.feature.length;
    for (let i = 0; i < size; i++) {
      const f = t.feature[i]!;
      w.uint(f + 1);
      if (f >= 0) {
        w.uint(thresholdIndex[f]!.get(t.threshold[i]!)! * 2 + (t.missing_left[i] ? 1 : 0));
        w.uint(t.left[i]! - i);
        if (!adjacent) w.uint(t.right[i]! - i);
      } else {
        const v = t.value[i]!;
        w.uint(leaves.id(JSON.stringify(v), v.slice()));
      }
      const n = t.n[i]!;
      w.uint(nValues.id(JSON.stringify(n), n));
    }
  }
  return {
    encoding: PACKED_TREES_ENCODING,
    nodes: trees.map((t) => t.feature.length),
    thresholds: thresholds.map((a) => Array.from(a)),
    leaves: leaves.values,
    n_values: nValues.values,
    adjacent_children: adjacent,
    data: Buffer.from(w.bytes()).toString("base64"),
  };
}

/** Inverse of encodeTrees. A malformed stream throws an Error naming what is wrong (the loader turns it into an InputError). */
export function decodeTrees(packed: PackedTrees): TreeJson[] {
  const bytes = Buffer.from(packed.data, "base64");
  let pos = 0;
  const uint = (): number => {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (pos >= bytes.length) throw new Error("packed_trees.data ends in the middle of a tree");
      const b = bytes[pos++]!;
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new Error("packed_trees.data holds a number that is too long");
    }
  };
  const trees: TreeJson[] = [];
  for (let ti = 0; ti < packed.nodes.length; ti++) {
    const size = packed.nodes[ti]!;
    const t: TreeJson = { feature: [], threshold: [], left: [], right: [], missing_left: [], value: [], n: [] };
    for (let i = 0; i < size; i++) {
      const f = uint() - 1;
      t.feature.push(f);
      if (f >= 0) {
        const list = packed.thresholds[f];
        const code = uint();
        const th = list?.[Math.floor(code / 2)];
        if (th === undefined) throw new Error(`packed_trees: tree ${ti} node ${i} refers to a threshold of feature ${f} that is not listed`);
        t.threshold.push(th);
        t.missing_left.push(code % 2 === 1 ? 1 : 0);
        const left = i + uint();
        t.left.push(left);
        t.right.push(packed.adjacent_children ? left + 1 : i + uint());
        t.value.push(null);
      } else {
        const v = packed.leaves[uint()];
        if (!v) throw new Error(`packed_trees: tree ${ti} leaf ${i} refers to a leaf vector that is not listed`);
        t.threshold.push(0);
        t.missing_left.push(0);
        t.left.push(-1);
        t.right.push(-1);
        t.value.push(v.slice());
      }
      const n = packed.n_values[uint()];
      if (n === undefined) throw new Error(`packed_trees: tree ${ti} node ${i} refers to a weight that is not listed`);
      t.n.push(n);
    }
    trees.push(t);
  }
  if (pos !== bytes.length) throw new Error(`packed_trees.data has ${bytes.length - pos} bytes after the last tree`);
  return trees;
}

/**
 * model.json text for an artifact: schema_version 2 with the trees packed (see encodeTrees). The packing is
 * checked by decoding it again; should it not reproduce the trees exactly, the trees are written as plain
 * arrays instead (still schema_version 2, which allows either).
 */
export function serializeModel<M extends { schema_version: number; model: { trees: TreeJson[] } }>(artifact: M): string {
  const packed = encodeTrees(artifact.model.trees);
  const exact = JSON.stringify(decodeTrees(packed)) === JSON.stringify(artifact.model.trees);
  const { trees, ...rest } = artifact.model;
  const model = exact ? { ...rest, packed_trees: packed } : { ...rest, trees };
  return JSON.stringify({ ...artifact, schema_version: 2, model });
}
