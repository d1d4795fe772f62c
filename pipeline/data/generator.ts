import { z } from "zod";
import { UsageError } from "../core/errors.js";
import { pmvValue, ppdFromPmv } from "./pmv.js";
import { Random } from "../core/random.js";

/**
 * A physics-based generator of thermal comfort survey records, shaped like ASHRAE DB II:
 * buildings with a fixed type, cooling strategy and climate are surveyed over a campaign; outdoor
 * temperature follows the season, indoor climate follows the outdoor one as far as the building's
 * cooling strategy lets it, clothing follows the weather, and each vote is the ISO 7730 PMV plus
 * the adaptive effect, personal bias and survey noise. Deterministic from the seed.
 */

export const GENERATOR_NAME = "thermal-comfort-generator";
/** Bump when the output for a given seed changes, so manifests record which generator made a file. */
export const GENERATOR_VERSION = 1;

export const THERMAL_COMFORT_COLUMNS = [
  "record_id",
  "building_id",
  "timestamp",
  "season",
  "building_type",
  "cooling_type",
  "ta",
  "tr",
  "rh",
  "vel",
  "clo",
  "met",
  "t_out",
  "thermal_sensation",
  "pmv",
  "ppd",
] as const;

export const SEASONS = ["winter", "spring", "summer", "autumn"] as const;
export const BUILDING_TYPES = ["office", "classroom", "multifamily housing", "senior center", "others"] as const;
export const COOLING_TYPES = ["air conditioned", "naturally ventilated", "mixed mode"] as const;
export const DRIFT_MODES = ["none", "hot-summer", "building-stock"] as const;

export type Season = (typeof SEASONS)[number];
export type BuildingType = (typeof BUILDING_TYPES)[number];
export type CoolingType = (typeof COOLING_TYPES)[number];
export type DriftMode = (typeof DRIFT_MODES)[number];

export interface ThermalComfortRecord {
  record_id: number;
  building_id: string;
  /** YYYY-MM-DD */
  timestamp: string;
  season: Season;
  building_type: BuildingType;
  cooling_type: CoolingType;
  ta: number;
  tr: number | null;
  rh: number;
  vel: number | null;
  clo: number;
  met: number;
  t_out: number | null;
  thermal_sensation: number;
  pmv: number;
  ppd: number;
}

/** YYYY-MM-DD naming a real day (Date.parse alone accepts 2021-02-30 and rolls it over). */
export function isCalendarDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

export const GenerateOptionsSchema = z
  .object({
    rows: z.number().int().positive(),
    seed: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
    drift: z.enum(DRIFT_MODES).default("none"),
    /** First day of the survey period (YYYY-MM-DD, UTC). */
    startDate: z
      .string()
      .refine(isCalendarDate, "a calendar date YYYY-MM-DD")
      .default("2021-01-01"),
    /** Number of buildings; by default one per ~200 rows, so a grouped split has enough groups. */
    buildings: z.number().int().positive().optional(),
  })
  .strict();
export type GenerateOptions = z.input<typeof GenerateOptionsSchema>;

const SURVEY_SPAN_DAYS = 3 * 365;
const DAY_MS = 86_400_000;

// Shares of building types: DB II is dominated by offices.
const TYPE_SHARES: Record<"none" | "building-stock", readonly number[]> = {
  none: [0.6, 0.15, 0.12, 0.05, 0.08],
  "building-stock": [0.08, 0.45, 0.35, 0.07, 0.05],
};
// P(air conditioned, naturally ventilated, mixed mode) per building type.
const COOLING_SHARES: Record<"none" | "building-stock", readonly (readonly number[])[]> = {
  none: [
    [0.6, 0.25, 0.15],
    [0.3, 0.55, 0.15],
    [0.2, 0.7, 0.1],
    [0.5, 0.35, 0.15],
    [0.4, 0.45, 0.15],
  ],
  "building-stock": [
    [0.2, 0.65, 0.15],
    [0.05, 0.85, 0.1],
    [0.05, 0.9, 0.05],
    [0.2, 0.7, 0.1],
    [0.1, 0.8, 0.1],
  ],
};

const AC = 0;
const NV = 1;
const MM = 2;

/** Fixed properties of one surveyed building. */
interface Building {
  id: string;
  type: number;
  cooling: number;
  /** Annual mean outdoor temperature and half the seasonal swing, °C. */
  climateMean: number;
  climateAmplitude: number;
  /** Cooling/heating setpoint and its bias, °C. */
  setpoint: number;
  indoorOffset: number;
  humidity: number;
  /** Shared bias of the building's occupants (culture, expectations). */
  voteBias: number;
  /** Survey campaign: first day (offset from the start date) and length in days. */
  windowStart: number;
  windowLength: number;
}

/**
 * The record being generated, reused between rows so the CSV writer allocates nothing per row.
 * Missing values are NaN here; `generateRecords` turns them into null.
 */
export interface MutableRow {
  recordId: number;
  building: number;
  day: number;
  ta: number;
  tr: number;
  rh: number;
  vel: number;
  clo: number;
  met: number;
  tOut: number;
  vote: number;
  pmv: number;
  ppd: number;
}

interface DayInfo {
  date: string;
  season: number;
  /** Day of year 0..365, for the seasonal cycle. */
  dayOfYear: number;
  year: number;
}

const MISSING_TR = 0.05;
const MISSING_T_OUT = 0.03;
const MISSING_VEL = 0.02;
const DUPLICATE_SHARE = 0.003;
// Some averaged votes come out whole; 8 % averaged gives ~5 % non-integer votes.
const AVERAGED_VOTE_SHARE = 0.08;

/** Streams rows into one reused MutableRow; the shared core of `generateRecords` and the CSV writer. */
export class ThermalComfortSource {
  readonly options: Required<Omit<GenerateOptions, "buildings">> & { buildings: number };
  readonly buildings: Building[];
  readonly days: DayInfo[];
  /** Indices into `days` of June-August, per year. */
  private readonly summerDays = new Map<number, number[]>();
  private readonly rng: Random;
  private readonly cumulativeWeights: Float64Array;
  private emitted = 0;
  private nextRecordId = 1;
  readonly row: MutableRow = { recordId: 0, building: 0, day: 0, ta: 0, tr: 0, rh: 0, vel: 0, clo: 0, met: 0, tOut: 0, vote: 0, pmv: 0, ppd: 0 };

  constructor(input: GenerateOptions) {
    const parsed = parseGenerateOptions(input);
    const buildings = parsed.buildings ?? defaultBuildingCount(parsed.rows);
    this.options = { ...parsed, buildings };
    this.days = dayTable(parsed.startDate);
    this.days.forEach((d, i) => {
      if (d.season !== 2) return;
      const list = this.summerDays.get(d.year) ?? [];
      list.push(i);
      this.summerDays.set(d.year, list);
    });
    const setup = new Random(parsed.seed, 1);
    this.buildings = makeBuildings(setup, buildings, parsed.drift);
    // Campaigns differ in size, as in DB II: lognormal weights.
    this.cumulativeWeights = new Float64Array(buildings);
    let total = 0;
    for (let i = 0; i < buildings; i++) {
      total += Math.exp(setup.normal(0, 0.5));
      this.cumulativeWeights[i] = total;
    }
    this.rng = new Random(parsed.seed, 2);
  }

  /** Fills `this.row` with the next record; false when all rows are out. An exact duplicate leaves the row unchanged. */
  next(): boolean {
    if (this.emitted >= this.options.rows) return false;
    const duplicate = this.emitted > 0 && this.rng.bernoulli(DUPLICATE_SHARE);
    this.emitted++;
    if (!duplicate) this.fill();
    return true;
  }

  private pickBuilding(): number {
    const w = this.cumulativeWeights;
    const r = this.rng.next() * w[w.length - 1]!;
    let lo = 0;
    let hi = w.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (w[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private fill(): void {
    const rng = this.rng;
    const row = this.row;
    const drift = this.options.drift;
    const bi = this.pickBuilding();
    const b = this.buildings[bi]!;
    let day = b.windowStart + rng.int(b.windowLength);
    if (drift === "hot-summer") day = summerDayOfSameYear(this.days, this.summerDays, day, rng);
    const info = this.days[day]!;

    // Outdoor: climate normal for the day of year (coldest mid-January) plus weather.
    const seasonal = -Math.cos((2 * Math.PI * (info.dayOfYear - 15)) / 365);
    let tOut = b.climateMean + b.climateAmplitude * seasonal + rng.normal(0, 3);
    if (drift === "hot-summer") tOut += 5;
    tOut = clamp(tOut, -35, 46);

    // Indoor air: AC holds a setpoint, NV is heated in winter and floats with the weather otherwise.
    const acTa = b.setpoint + 0.07 * (tOut - 15);
    const nvTa = tOut <= 12 ? 20.5 + 0.12 * (tOut - 12) : 20.5 + 0.55 * (tOut - 12);
    let ta: number;
    if (b.cooling === AC) ta = acTa;
    else if (b.cooling === NV) ta = nvTa;
    else ta = tOut > 25 ? acTa + 0.5 : 0.5 * (acTa + nvTa);
    ta = round1(clamp(ta + b.indoorOffset + rng.normal(0, 1.0), 12, 38));
    // Radiant: near air temperature, pulled towards outdoor through the envelope in free-running buildings.
    const envelope = b.cooling === AC ? 0.02 : 0.06;
    const tr = round1(clamp(ta + 0.3 + envelope * (tOut - ta) + rng.normal(0, 0.7), 10, 42));
    // Heated indoor air is drier in winter.
    const rh = Math.round(clamp(b.humidity + 8 * seasonal + rng.normal(0, 7), 20, 80));
    // Air speed: lognormal; open windows and fans in warm free-running buildings.
    const warmFreeRunning = b.cooling !== AC && tOut > 20;
    const vel = round2(clamp(Math.exp(rng.normal(Math.log(warmFreeRunning ? 0.22 : 0.1), 0.5)), 0.02, 1.5));
    // Clothing follows the weather (Schiavon & Lee): ~1.0 clo in cold weather, ~0.5 in summer.
    const cloBase = 1.0 - (0.5 * (clamp(tOut, 5, 25) - 5)) / 20;
    const typeClo = b.type === 3 ? 0.1 : b.type === 2 ? 0.05 : 0;
    const clo = round2(clamp(cloBase + typeClo + rng.normal(0, 0.12), 0.25, 1.6));
    // Activity: mostly seated (1.0-1.3 met), a few standing or walking.
    const met = round2(rng.bernoulli(0.06) ? clamp(rng.uniform(1.4, 2.0), 0.8, 2.0) : clamp(rng.normal(1.12, 0.08), 0.9, 1.35));

    const pmv = pmvValue(ta, tr, vel, rh, met, clo);
    // Adaptive effect (de Dear & Brager 1998): occupants of free-running buildings feel less of
    // what PMV predicts, above all on the warm side.
    let effective = pmv;
    if (b.cooling === NV) effective *= pmv > 0 ? 0.55 : 0.8;
    else if (b.cooling === MM) effective *= pmv > 0 ? 0.8 : 0.9;
    const latent = effective + b.voteBias + rng.normal(0, 0.35) + rng.normal(0, 0.45);
    let vote: number;
    if (rng.bernoulli(AVERAGED_VOTE_SHARE)) {
      // Some studies report a group's mean vote: a non-integer on the same scale.
      const k = 2 + rng.int(3);
      let sum = 0;
      for (let i = 0; i < k; i++) sum += toScale(latent + rng.normal(0, 0.5));
      vote = Math.round((sum / k) * 100) / 100;
    } else {
      vote = toScale(latent);
    }

    row.recordId = this.nextRecordId++;
    row.building = bi;
    row.day = day;
    row.ta = ta;
    row.tr = rng.bernoulli(MISSING_TR) ? Number.NaN : tr;
    row.rh = rh;
    row.vel = rng.bernoulli(MISSING_VEL) ? Number.NaN : vel;
    row.clo = clo;
    row.met = met;
    row.tOut = rng.bernoulli(MISSING_T_OUT) ? Number.NaN : round1(tOut);
    row.vote = vote;
    row.pmv = Math.round(pmv * 100) / 100 + 0;
    row.ppd = Math.round(ppdFromPmv(pmv) * 10) / 10;
  }

  /** A detached plain record of the current row. */
  record(): ThermalComfortRecord {
    const r = this.row;
    const b = this.buildings[r.building]!;
    const info = this.days[r.day]!;
    return {
      record_id: r.recordId,
      building_id: b.id,
      timestamp: info.date,
      season: SEASONS[info.season]!,
      building_type: BUILDING_TYPES[b.type]!,
      cooling_type: COOLING_TYPES[b.cooling]!,
      ta: r.ta,
      tr: Number.isNaN(r.tr) ? null : r.tr,
      rh: r.rh,
      vel: Number.isNaN(r.vel) ? null : r.vel,
      clo: r.clo,
      met: r.met,
      t_out: Number.isNaN(r.tOut) ? null : r.tOut,
      thermal_sensation: r.vote,
      pmv: r.pmv,
      ppd: r.ppd,
    };
  }
}

/** Generates records lazily; the same options always give the same sequence. */
export function* generateRecords(options: GenerateOptions): Iterable<ThermalComfortRecord> {
  const source = new ThermalComfortSource(options);
  while (source.next()) yield source.record();
}

/** Validated options with defaults; a UsageError names the offending option. */
export function parseGenerateOptions(input: GenerateOptions): z.output<typeof GenerateOptionsSchema> {
  const result = GenerateOptionsSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new UsageError(`generator option ${issue.path.join(".") || "(options)"}: ${issue.message}`);
  }
  return result.data;
}

/** One building per ~200 rows (about 100 for 20,000), at least 10, so grouped splits have groups to split. */
export function defaultBuildingCount(rows: number): number {
  return Math.max(Math.min(rows, 10), Math.round(rows / 200));
}

function makeBuildings(rng: Random, count: number, drift: DriftMode): Building[] {
  const stock = drift === "building-stock" ? "building-stock" : "none";
  const width = Math.max(3, String(count).length);
  const out: Building[] = [];
  for (let i = 0; i < count; i++) {
    const type = rng.pick(TYPE_SHARES[stock]);
    const cooling = rng.pick(COOLING_SHARES[stock][type]!);
    const climateMean = clamp(rng.normal(14, 5), 0, 26);
    // Warm climates swing less over the year.
    const climateAmplitude = clamp(rng.normal(11 - 0.2 * (climateMean - 14), 2.5), 3, 18);
    const windowLength = Math.min(SURVEY_SPAN_DAYS, 60 + rng.int(480));
    out.push({
      id: `B${String(i + 1).padStart(width, "0")}`,
      type,
      cooling,
      climateMean,
      climateAmplitude,
      setpoint: rng.normal(23.0, 0.8),
      indoorOffset: rng.normal(0, cooling === AC ? 0.5 : 1.0),
      humidity: clamp(rng.normal(50, 9), 30, 70),
      voteBias: rng.normal(0, 0.25),
      windowStart: rng.int(SURVEY_SPAN_DAYS - windowLength + 1),
      windowLength,
    });
  }
  return out;
}

function dayTable(startDate: string): DayInfo[] {
  const start = Date.parse(`${startDate}T00:00:00Z`);
  const days: DayInfo[] = [];
  for (let i = 0; i < SURVEY_SPAN_DAYS; i++) {
    const d = new Date(start + i * DAY_MS);
    const month = d.getUTCMonth();
    const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
    days.push({
      date: d.toISOString().slice(0, 10),
      season: seasonOfMonth(month),
      dayOfYear: Math.round((d.getTime() - yearStart) / DAY_MS),
      year: d.getUTCFullYear(),
    });
  }
  return days;
}

/** Northern hemisphere, meteorological seasons: Dec-Feb winter, Mar-May spring, Jun-Aug summer, Sep-Nov autumn. */
export function seasonOfMonth(month0: number): number {
  if (month0 === 11 || month0 <= 1) return 0;
  if (month0 <= 4) return 1;
  if (month0 <= 7) return 2;
  return 3;
}

/** Moves a day into June-August of its year (or of the nearest year the survey period covers). */
function summerDayOfSameYear(days: DayInfo[], summerDays: Map<number, number[]>, day: number, rng: Random): number {
  let candidates = summerDays.get(days[day]!.year);
  if (!candidates || candidates.length < 30) {
    // A year only partly inside the survey period: use the fullest summer available.
    for (const list of summerDays.values()) if (!candidates || list.length > candidates.length) candidates = list;
  }
  if (!candidates || candidates.length === 0) return day;
  return candidates[rng.int(candidates.length)]!;
}

function toScale(x: number): number {
  const r = x < 0 ? -Math.round(-x) : Math.round(x);
  return clamp(r, -3, 3) + 0;
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
