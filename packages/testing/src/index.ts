export { brokerAddresses } from './addresses';
export type { BrokerAddresses } from './addresses';
export { startCollector, spansFromOtlpJson } from './collector';
export type { CollectedSpan, CollectedLink, SpanCollector, SpanKindName } from './collector';
export { runFixture, startFixture, REGISTER_ENTRY } from './fixtures';
export type { FixtureOptions, FixtureProcess, FixtureResult } from './fixtures';
export { assertLink, assertNoOrphans, assertParentChild, assertSingleTrace, findSpan, findSpans, formatSpans } from './assertions';
export type { SpanMatcher } from './assertions';
