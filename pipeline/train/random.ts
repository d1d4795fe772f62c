/**
 * Seeded pseudo-random numbers for training. Everything random in a fit (bootstrap samples, feature
 * subsets, quantile subsamples) draws from here so that the same seed gives a byte-identical model.
 */

/** Mixes a 32-bit integer (the finaliser of MurmurHash3): nearby seeds give unrelated streams. */
function mix32(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * The seed of one member of an ensemble. Depends only on (seed, index), never on which worker fits the
 * tree or in which order, so a forest is the same whatever the thread scheduling.
 */
export function deriveSeed(seed: number, index: number): number {
  return mix32(mix32(seed >>> 0 ^ 0x9e3779b9) ^ mix32((index + 0x632be5ab) >>> 0));
}

/** Small, fast generator (mulberry32); quality is ample for sampling, and it is trivially reproducible. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = mix32(seed >>> 0) || 0x6d2b79f5;
  }

  /** Uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Shuffles `a` in place (Fisher-Yates). */
  shuffle(a: Int32Array | number[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
  }
}
