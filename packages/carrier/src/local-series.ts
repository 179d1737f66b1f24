import { diag, type Attributes, type Meter } from '@opentelemetry/api';
import { WarnOnce } from './warn-once';

const warnings = new WarnOnce(diag.createComponentLogger({ namespace: '@threadline/carrier' }));

/** Series one counter, gauge or histogram keeps at most; past it new series are dropped (diag). */
export const SERIES_LIMIT = 2000;

/** Builds the attributes of a new series from the parts of its key. */
export interface SeriesAttributes {
  /** `messaging.system`: part of every key. */
  readonly system: string;
  build(operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): Attributes;
}

/**
 * Values kept here per attribute set. An SDK instrument hashes its attributes on every record
 * (about 1.3 µs); here the same series as the last call is found by comparing its parts, and
 * another by a map lookup. The attributes are built only for a new series.
 */
export class BoundedSeries<T extends { readonly attributes: Attributes }> {
  readonly series = new Map<string, T>();
  private last: T | undefined;
  private lastOwner: SeriesAttributes | undefined;
  private lastOperation = '';
  private lastDestination = '';
  private lastGroup: string | undefined;
  private lastError: string | undefined;
  private lastExtra: string | undefined;

  constructor(
    private readonly name: string,
    private readonly create: (attributes: Attributes) => T,
    /** Past the limit the caller does without the series: no warning. */
    private readonly quiet: boolean = false,
  ) {}

  /** The series of these parts, created at the first call; undefined past SERIES_LIMIT (with a warning). */
  entry(owner: SeriesAttributes, operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): T | undefined {
    if (this.last !== undefined && owner === this.lastOwner && operation === this.lastOperation && destination === this.lastDestination && group === this.lastGroup && error === this.lastError && extraValue === this.lastExtra) return this.last;
    const key = `${owner.system}\u0001${operation}\u0001${destination}\u0001${group ?? ''}\u0001${error ?? ''}\u0001${extraValue ?? ''}`;
    let found = this.series.get(key);
    if (found === undefined) {
      if (this.series.size >= SERIES_LIMIT) {
        if (!this.quiet) warnings.warn(`${this.name}: more than ${SERIES_LIMIT} attribute sets; new ones are not recorded`);
        return undefined;
      }
      found = this.create(owner.build(operation, destination, group, error, extraKey, extraValue));
      this.series.set(key, found);
    }
    this.last = found;
    this.lastOwner = owner;
    this.lastOperation = operation;
    this.lastDestination = destination;
    this.lastGroup = group;
    this.lastError = error;
    this.lastExtra = extraValue;
    return found;
  }
}

/** One attribute set of an explicit-bucket histogram, cumulative since `startTimeMs`. */
export interface LocalHistogramPoint {
  readonly attributes: Attributes;
  readonly startTimeMs: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  /** One more than the boundaries: bucket i holds (boundaries[i-1], boundaries[i]]. */
  readonly counts: number[];
}

/** A histogram aggregated here, as the SDK's explicit-bucket aggregation would (cumulative). */
export class LocalHistogram {
  readonly points: BoundedSeries<LocalHistogramPoint>;

  constructor(
    readonly name: string,
    readonly description: string,
    readonly unit: string,
    readonly boundaries: readonly number[],
  ) {
    this.points = new BoundedSeries(name, (attributes) => ({ attributes, startTimeMs: Date.now(), count: 0, sum: 0, min: Infinity, max: -Infinity, counts: new Array<number>(boundaries.length + 1).fill(0) }));
  }

  record(value: number, owner: SeriesAttributes, operation: string, destination: string, group: string | undefined, error: string | undefined, extraKey?: string, extraValue?: string): void {
    if (Number.isNaN(value)) return;
    const point = this.points.entry(owner, operation, destination, group, error, extraKey, extraValue);
    if (point === undefined) return;
    point.count += 1;
    point.sum += value;
    if (value < point.min) point.min = value;
    if (value > point.max) point.max = value;
    // First boundary at or above the value, as the SDK's binarySearchUB.
    const bounds = this.boundaries;
    let low = 0;
    let high = bounds.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (bounds[middle]! < value) low = middle + 1;
      else high = middle;
    }
    point.counts[low]! += 1;
  }
}

/** The instrumentation scope a meter was created with, as the SDK exports it. */
export interface MeterScope {
  name: string;
  version?: string;
  schemaUrl?: string;
}

/** threadline's histograms of one adopted meter. */
export class LocalHistogramScope {
  private readonly byName = new Map<string, LocalHistogram>();

  constructor(
    readonly scope: MeterScope,
    readonly owner: object,
  ) {}

  /** The histogram of that name, created at the first ask (as an SDK meter returns one stream per name). */
  histogram(name: string, description: string, unit: string, boundaries: readonly number[]): LocalHistogram {
    let found = this.byName.get(name);
    if (found === undefined) {
      found = new LocalHistogram(name, description, unit, boundaries);
      this.byName.set(name, found);
    }
    return found;
  }

  get histograms(): LocalHistogram[] {
    return [...this.byName.values()];
  }
}

interface Registry {
  readonly adopted: WeakMap<Meter, LocalHistogramScope>;
  readonly scopes: LocalHistogramScope[];
}

// On globalThis, so that two copies of this package in one app still agree on what is adopted.
const REGISTRY = Symbol.for('@threadline/carrier.local-histograms');

function registry(): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry };
  return (holder[REGISTRY] ??= { adopted: new WeakMap(), scopes: [] });
}

/**
 * threadline's histograms on `meter` are aggregated in this process instead of through the
 * meter, and `owner` reports them at each collection (`localHistogramScopes(owner)`). For a
 * MeterProvider that exports cumulative histograms with no views, such as register's: the
 * result is the same data, for a fraction of the SDK's cost per value.
 */
export function aggregateHistogramsLocally(meter: Meter, scope: MeterScope, owner: object): void {
  const { adopted, scopes } = registry();
  if (adopted.has(meter)) return;
  const local = new LocalHistogramScope(scope, owner);
  adopted.set(meter, local);
  scopes.push(local);
}

/** Where threadline's histograms of `meter` are aggregated, when it was adopted. */
export function localHistogramScopeOf(meter: Meter): LocalHistogramScope | undefined {
  return registry().adopted.get(meter);
}

/** The scopes `owner` adopted, to be reported at each of its collections. */
export function localHistogramScopes(owner: object): LocalHistogramScope[] {
  return registry().scopes.filter((each) => each.owner === owner);
}
