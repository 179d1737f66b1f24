export { diagnose, resolveOptions, DEFAULT_OPTIONS, PULL_WORK_WINDOW_MS } from './analyze';
export { formatReport } from './format';
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
  LinkedHop,
  NeverEndingTrace,
  OrphanGroup,
  ResolvedDoctorOptions,
  ServiceRootRatio,
  SpanRef,
  UnconsumedSends,
  UnfollowedPull,
} from './types';
