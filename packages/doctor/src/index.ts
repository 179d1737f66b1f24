export { diagnose, resolveOptions, DEFAULT_OPTIONS, PULL_WORK_WINDOW_MS } from './analyze';
export { formatLatency, formatLatencyReport, formatReport } from './format';
export { latency, latencyStats, nearestRank } from './latency';
export { readSpans, readSpansFromText, spansFromExportRequest, DoctorInputError, SPAN_FILE_EXTENSIONS } from './read';
export type { ReadResult } from './read';
export { runCli, EXIT_CLEAN, EXIT_GAPS, EXIT_BAD_INPUT } from './cli';
export type { CliIo } from './cli';
export type {
  BrokenHop,
  Channel,
  DoctorLink,
  DoctorOptions,
  DoctorReport,
  DoctorSpan,
  DoctorSpanKind,
  HopEvidence,
  HopLatency,
  LatencyReport,
  LatencyStats,
  LinkedHop,
  NeverEndingTrace,
  OrphanGroup,
  ResolvedDoctorOptions,
  ServiceRootRatio,
  SkewedMessage,
  SpanRef,
  TraceLatency,
  UnconsumedSends,
  UnfollowedPull,
} from './types';
