import type { DestinationStream } from "pino";

/**
 * The server's log lines gathered into chunks of at least `minLength` characters (and at most
 * `flushIntervalMs` late) before they reach the real destination (pino's SonicBoom on stdout).
 *
 * Why not SonicBoom's own `minLength`: its write() measures the UTF-8 length of the string it is
 * accumulating on every call, which flattens and rescans up to 16 kB per line; at one line per
 * prediction that was 3.3 µs of a 6.2 µs log line (README "Benchmark"). Here a line is appended and
 * counted by its length, and SonicBoom sees one write per chunk. Every line of the process goes
 * through the same buffer, so lines keep their order.
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

/** pino's DestinationStream, whose write() may say (false) that the destination is over its high-water mark. */
type Target = { write(line: string): boolean | void; flushSync?: () => void; on?: (event: "drain", listener: () => void) => unknown };

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
  target: Target,
  options: { minLength: number; flushIntervalMs: number; maxPending?: number; onDrop?: (lines: number) => void },
): CoalescingDestination {
  const maxPending = options.maxPending ?? 64 * 1024 * 1024;
  let pending = "";
  let busy = false;
  let dropped = 0;
  const hand = () => {
    if (pending === "" || busy) return;
    const chunk = pending;
    pending = "";
    if (target.write(chunk) === false && target.on) busy = true;
    if (dropped > 0) {
      const n = dropped;
      dropped = 0;
      options.onDrop?.(n);
    }
  };
  target.on?.("drain", () => {
    busy = false;
    if (pending.length >= options.minLength) hand();
  });
  const timer = setInterval(hand, options.flushIntervalMs);
  timer.unref();
  const destination: CoalescingDestination = {
    write(line: string) {
      if (pending.length >= maxPending) {
        dropped++;
        return;
      }
      pending += line;
      if (pending.length >= options.minLength) hand();
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
