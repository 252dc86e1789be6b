/**
 * Counters a data-plane operator keeps when given a FlowStats object: how many items it holds
 * (in flight), the peak of that, and totals. Used by tests to check the bounds and by
 * benchmarks to report them.
 */
export interface FlowStats {
  /** Items the stage holds right now (pulled from upstream or produced, not yet released downstream). */
  inFlight: number;
  /** Largest `inFlight` seen. */
  peakInFlight: number;
  /** Items pulled from upstream. */
  pulled: number;
  /** Items handed downstream. */
  emitted: number;
  /** Samples dropped with onError: 'skip'. */
  skipped: number;
  /** Values a plain (non-pullable) upstream pushed before they were needed: the peak. */
  peakUpstreamBuffered: number;
  /** Worker milliseconds (augmentInPool). */
  workerMs: number;
}

export function createFlowStats(): FlowStats {
  return { inFlight: 0, peakInFlight: 0, pulled: 0, emitted: 0, skipped: 0, peakUpstreamBuffered: 0, workerMs: 0 };
}

/** Adds `delta` to inFlight and updates the peak. */
export function trackInFlight(stats: FlowStats | undefined, delta: number): void {
  if (!stats) return;
  stats.inFlight += delta;
  if (stats.inFlight > stats.peakInFlight) stats.peakInFlight = stats.inFlight;
}
