import type { Service, TrafficTarget, TrafficTargetStatus } from "./cloud-run-types.js";
import { shortRevisionName } from "./cloud-run-types.js";

/**
 * Traffic splits: what a service serves before a deploy (recorded so it can be restored exactly),
 * the splits of the canary steps, and comparison. A split is the list of (revision, percent, tag)
 * the service resolves its traffic to; `LATEST` entries are resolved to the revision they point at
 * when recorded, because after a new template is deployed `LATEST` means the new revision.
 */

export interface TrafficEntry {
  revision: string;
  percent: number;
  tag?: string;
}

export interface RecordedTraffic {
  /** `service.traffic` as it was. */
  spec: TrafficTarget[];
  /** The resolved split (from `trafficStatuses`). */
  split: TrafficEntry[];
  /** The revision with the largest share: the canary's baseline. */
  stable: string;
  /** Its tag, if it had one (its URL then reads its /metrics). */
  stableTag?: string;
}

const REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" as const;
const LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST" as const;

/** proto3 JSON leaves zero values out: a tag-only entry has no `percent`. */
export function target(revision: string, percent: number, tag?: string): TrafficTarget {
  return { type: REVISION, revision: shortRevisionName(revision), ...(percent > 0 ? { percent } : {}), ...(tag ? { tag } : {}) };
}

export function resolvedSplit(statuses: TrafficTargetStatus[] | undefined): TrafficEntry[] {
  return (statuses ?? [])
    .filter((s) => s.revision)
    .map((s) => ({ revision: shortRevisionName(s.revision!), percent: s.percent ?? 0, ...(s.tag ? { tag: s.tag } : {}) }));
}

/** The split a service serves now. Null when it serves nothing resolvable (no ready revision). */
export function recordTraffic(service: Service): RecordedTraffic | null {
  let split = resolvedSplit(service.trafficStatuses);
  if (split.length === 0 && service.latestReadyRevision) {
    // Without statuses (still reconciling) resolve the spec ourselves.
    split = (service.traffic ?? []).map((t) => ({
      revision: shortRevisionName(t.type === LATEST || !t.revision ? service.latestReadyRevision! : t.revision),
      percent: t.percent ?? 0,
      ...(t.tag ? { tag: t.tag } : {}),
    }));
  }
  const serving = split.filter((e) => e.percent > 0);
  if (serving.length === 0) return null;
  const stable = serving.reduce((a, b) => (b.percent > a.percent ? b : a)).revision;
  const stableTag = split.find((e) => e.revision === stable && e.tag)?.tag;
  return { spec: service.traffic ?? [], split, stable, ...(stableTag ? { stableTag } : {}) };
}

/** The recorded split as explicit revision targets: what a restore sends. */
export function restoreTargets(recorded: RecordedTraffic): TrafficTarget[] {
  return recorded.split.map((e) => target(e.revision, e.percent, e.tag));
}

/**
 * The recorded split with the deploy's two tags in place: the new revision's (at 0%) and the
 * stable revision's, so both revisions' /metrics can be read side by side. A tag already used by
 * another revision moves (tags are unique within a service).
 */
function taggedBase(recorded: RecordedTraffic, input: { revision: string; tag: string; stableTag?: string }): TrafficEntry[] {
  const entries: TrafficEntry[] = [];
  for (const e of recorded.split) {
    const collides = e.tag === input.tag || (e.tag === input.stableTag && e.revision !== recorded.stable);
    const kept: TrafficEntry = collides ? { revision: e.revision, percent: e.percent } : { ...e };
    if (kept.percent > 0 || kept.tag) entries.push(kept);
  }
  if (input.stableTag && !entries.some((e) => e.revision === recorded.stable && e.tag === input.stableTag)) {
    const serving = entries.find((e) => e.revision === recorded.stable && e.percent > 0 && !e.tag);
    if (serving) serving.tag = input.stableTag;
    else entries.push({ revision: recorded.stable, percent: 0, tag: input.stableTag });
  }
  entries.push({ revision: shortRevisionName(input.revision), percent: 0, tag: input.tag });
  return entries;
}

/** Moves all traffic onto `shares` (revision → percent), keeping every tag; untagged 0% entries go. */
function reshare(entries: TrafficEntry[], shares: Map<string, number>): TrafficTarget[] {
  const given = new Set<string>();
  const out: TrafficTarget[] = [];
  for (const e of entries) {
    let percent = 0;
    if (shares.has(e.revision) && !given.has(e.revision)) {
      percent = shares.get(e.revision)!;
      given.add(e.revision);
    }
    if (percent > 0 || e.tag) out.push(target(e.revision, percent, e.tag));
  }
  return out;
}

/**
 * The split while the new revision holds `percent` of traffic (0 = deployed with no traffic: the
 * recorded shares stay as they were; without `stableTag` nothing else changes: a preview). The rest goes to the stable revision; shares of any other
 * serving revisions are folded into it for the canary.
 */
export function canaryTargets(recorded: RecordedTraffic, input: { revision: string; tag: string; percent: number; stableTag?: string }): TrafficTarget[] {
  const base = taggedBase(recorded, input);
  if (input.percent === 0) return base.filter((e) => e.percent > 0 || e.tag).map((e) => target(e.revision, e.percent, e.tag));
  const revision = shortRevisionName(input.revision);
  const shares = new Map<string, number>([[revision, Math.min(100, input.percent)]]);
  if (input.percent < 100) shares.set(recorded.stable, 100 - input.percent);
  return reshare(base, shares);
}

/**
 * After a successful rollout: the new revision serves everything, tags that existed before keep
 * their URLs, and the stable tag the deploy added for the canary goes again.
 */
export function finalTargets(recorded: RecordedTraffic, input: { revision: string; tag: string; stableTag: string }): TrafficTarget[] {
  const base = taggedBase(recorded, input).filter((e) => !(e.tag === input.stableTag && recorded.stableTag !== input.stableTag));
  return reshare(base, new Map([[shortRevisionName(input.revision), 100]]));
}

/** Order-free comparison of two splits. */
export function splitKey(split: TrafficEntry[]): string {
  return split
    .map((e) => `${e.revision}|${e.percent}|${e.tag ?? ""}`)
    .sort()
    .join(",");
}

export function sameSplit(a: TrafficEntry[], b: TrafficEntry[]): boolean {
  return splitKey(a) === splitKey(b);
}

export function describeSplit(split: TrafficEntry[]): string {
  return split
    .filter((e) => e.percent > 0)
    .map((e) => `${e.revision} ${e.percent}%`)
    .join(", ");
}

/** The URL a tag is served at, from the service's traffic statuses. */
export function tagUrl(service: Service, tag: string): string | undefined {
  return service.trafficStatuses?.find((s) => s.tag === tag)?.uri;
}
