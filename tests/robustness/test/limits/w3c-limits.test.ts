// tracestate over 512 characters and baggage over 180 entries / 8,192 bytes, through each real
// broker: the consumer still joins the trace (the traceparent is valid), and what it runs in and
// sends onward stays within the W3C limits, keeping list members from the front.
import { run, unique } from './support';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
// 40 members of 17 characters and one of 204 after the 20th: 923 characters, more than 32 members.
const members = Array.from({ length: 40 }, (_, index) => `v${String(index).padStart(2, '0')}=${'m'.repeat(13)}`);
const BIG = `big=${'x'.repeat(200)}`;
members.splice(20, 0, BIG);
const TRACESTATE = members.join(',');
// 200 entries of 51 characters: 10,399 characters, over both baggage limits.
const BAGGAGE_KEYS = Array.from({ length: 200 }, (_, index) => `k${String(index).padStart(3, '0')}`);
const BAGGAGE = BAGGAGE_KEYS.map((key) => `${key}=${'b'.repeat(46)}`).join(',');
const CRAFTED = { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: TRACESTATE, baggage: BAGGAGE };

const isPrefixOf = (part: string[], whole: string[]) => part.every((item, index) => whole[index] === item);
/** `part` is `whole` with some members left out, order kept. */
function isSubsequence(part: string[], whole: string[]): boolean {
  let at = 0;
  for (const item of part) {
    at = whole.indexOf(item, at);
    if (at === -1) return false;
    at += 1;
  }
  return true;
}

describe.each(['amqplib', 'kafkajs', 'sqs', 'mongodb'])('%s', (transport) => {
  test('oversized tracestate and baggage: the trace is joined; the consumer runs in and forwards at most 512 / 180 / 8,192', async () => {
    const name = unique(transport);
    const { result } = await run('limits-relay.cjs', {
      serviceName: `limits-${transport}`,
      env: {
        TRANSPORT: transport,
        DESTINATION: name,
        CRAFTED_CONTEXT: JSON.stringify(CRAFTED),
        THREADLINE_MONGODB_QUEUE_COLLECTIONS: `threadline_limits.${name}_1,threadline_limits.${name}_2`,
      },
    });
    const { seen, onward } = result;
    expect(CRAFTED.tracestate.length).toBeGreaterThan(512);
    expect(CRAFTED.baggage.length).toBeGreaterThan(8192);
    // The message itself went through with the app's fields untouched.
    expect(seen.received).toEqual(expect.arrayContaining(['traceparent', 'tracestate', 'baggage']));
    // A valid traceparent with oversized companions is still the parent.
    expect(seen.traceId).toBe(TRACE_ID);

    // tracestate (W3C Trace Context "tracestate Limits"): at most 512 characters and 32 members kept,
    // in order, from the front; a member that would overflow (the 204-character one) is skipped.
    expect(seen.tracestate.length).toBeGreaterThan(0);
    expect(seen.tracestate.length).toBeLessThanOrEqual(512);
    const kept = seen.tracestate.split(',');
    expect(kept.length).toBeLessThanOrEqual(32);
    expect(kept.slice(0, 20)).toEqual(members.slice(0, 20));
    expect(kept).not.toContain(BIG);
    expect(isSubsequence(kept, members)).toBe(true);
    expect(onward.traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(onward.tracestate).toBe(seen.tracestate);

    // baggage (W3C Baggage "Limits"): at most 180 entries and 8,192 bytes, from the front.
    expect(seen.baggageKeys.length).toBeGreaterThan(0);
    expect(seen.baggageKeys.length).toBeLessThanOrEqual(180);
    expect(isPrefixOf(seen.baggageKeys, BAGGAGE_KEYS)).toBe(true);
    expect(Buffer.byteLength(onward.baggage)).toBeLessThanOrEqual(8192);
    const forwarded = String(onward.baggage).split(',').map((entry) => entry.split('=')[0]);
    expect(forwarded.length).toBeLessThanOrEqual(180);
    expect(isPrefixOf(forwarded, BAGGAGE_KEYS)).toBe(true);
  });
});
