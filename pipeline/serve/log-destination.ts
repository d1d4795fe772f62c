import type { DestinationStream } from "pino";

/**
 * The server's log lines gathered into chunks of at least `minLength` characters (and at most
 * `flushIntervalMs` late) before they reach the real destination (pino's SonicBoom on stdout).
 *
 * Why not SonicBoom's own `minLength`: its write() measures the UTF-8 length of the string it is
 * accumulating on every call, which flattens and rescans up to 16 kB per line; at one line per
 * prediction that was 3.3 µs of a 6.2 µs log line (README "Benchmark"). Here each line is encoded
 * once, straight into a byte buffer, and SonicBoom (in buffer mode) gets views of it: a string
 * handed to SonicBoom was flattened and measured again in one piece (Buffer.byteLength, 7 % of a
 * large batch's thread). Every line of the process goes through the same buffer, so lines keep
 * their order; `minLength` and `maxPending` count bytes.
 *
 * While the destination is still writing (its write() returned false, until 'drain'), lines wait
 * here and go in one piece when it is free: SonicBoom writes at most 16 kB per system call, one at a
 * time, and a saturated server produced more than that per event-loop turn, so its queue grew without
 * end (tens of MB within a minute under the benchmark's load). If the destination stops taking lines
 * altogether, at most `maxPending` characters wait; lines beyond that are dropped and counted
 * (`onDrop`), so a blocked stdout cannot take the process down.
 */
export interface CoalescingDestination extends DestinationStream {
  /** Hands everything gathered to the destination and flushes it synchronously (exit paths). */
  flushSync(): void;
}

/**
 * What the gathered bytes go to: SonicBoom in buffer mode (pino.destination with `contentMode:
 * "buffer"`). Its write() may say (false) that it is over its high-water mark, until 'drain'.
 */
export type ByteTarget = { write(chunk: Buffer): boolean | void; flushSync?: () => void; on?: (event: "drain", listener: () => void) => unknown };

// One exit hook for all of them, holding them weakly: servers made and dropped (tests) are not kept alive.
const live = new Set<WeakRef<CoalescingDestination>>();
let exitHooked = false;
// A destination nobody holds any more stops its flush timer.
const timers = new FinalizationRegistry<NodeJS.Timeout>((timer) => clearInterval(timer));
function onExit(): void {
  for (const ref of live) {
    try {
      ref.deref()?.flushSync();
    } catch {
      // A destination already closed has nothing left to write.
    }
  }
}

export function coalescingDestination(
  target: ByteTarget,
  options: { minLength: number; flushIntervalMs: number; maxPending?: number; onDrop?: (lines: number) => void },
): CoalescingDestination {
  const maxPending = options.maxPending ?? 64 * 1024 * 1024;
  const blockSize = Math.max(64 * 1024, 2 * options.minLength);
  // Lines are encoded straight into `block`; bytes [from, used) are not handed on yet. A handed piece
  // is a view of the block, and later lines go after it, so nothing is copied or written twice.
  let block = Buffer.allocUnsafe(blockSize);
  let from = 0;
  let used = 0;
  // Whole pieces that waited while the destination was busy (earlier blocks).
  let waiting: Buffer[] = [];
  let waitingBytes = 0;
  let busy = false;
  let dropped = 0;
  const pendingBytes = () => waitingBytes + used - from;
  const hand = () => {
    if (busy || pendingBytes() === 0) return;
    const piece = block.subarray(from, used);
    from = used;
    const chunk = waiting.length === 0 ? piece : Buffer.concat([...waiting, piece], waitingBytes + piece.length);
    waiting = [];
    waitingBytes = 0;
    if (target.write(chunk) === false && target.on) busy = true;
    if (dropped > 0) {
      const n = dropped;
      dropped = 0;
      options.onDrop?.(n);
    }
  };
  target.on?.("drain", () => {
    busy = false;
    if (pendingBytes() >= options.minLength) hand();
  });
  const timer = setInterval(hand, options.flushIntervalMs);
  timer.unref();
  const destination: CoalescingDestination = {
    write(line: string) {
      if (pendingBytes() >= maxPending) {
        dropped++;
        return;
      }
      // A UTF-16 code unit is at most 3 bytes of UTF-8: a line that might not fit starts a new block.
      const most = 3 * line.length;
      if (block.length - used < most) {
        if (used > from) {
          waiting.push(block.subarray(from, used));
          waitingBytes += used - from;
        }
        block = Buffer.allocUnsafe(Math.max(blockSize, most));
        from = 0;
        used = 0;
      }
      used += block.write(line, used, "utf8");
      if (pendingBytes() >= options.minLength) hand();
    },
    flushSync() {
      busy = false;
      hand();
      target.flushSync?.();
    },
  };
  for (const ref of live) if (ref.deref() === undefined) live.delete(ref);
  live.add(new WeakRef(destination));
  timers.register(destination, timer);
  if (!exitHooked) {
    exitHooked = true;
    process.once("exit", onExit);
  }
  return destination;
}
