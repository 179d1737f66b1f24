// Inject plus extract of W3C traceparent and tracestate through each adapter, against
// OpenTelemetry's default getter and setter on a plain record, in one process and one run.
import { defaultTextMapGetter, defaultTextMapSetter, propagation, ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { CompositePropagator, TraceState, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  documentFieldAdapter,
  envAdapter,
  k8sEnvVarAdapter,
  kafkaHeadersAdapter,
  recordAdapter,
  amqpHeadersAdapter,
  sqsAttributesAdapter,
} from '@threadline/carrier';
import { Bench } from 'tinybench';

export async function benchCarrier({ quick }) {
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  const ctx = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    traceState: new TraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
  });
  let sink = 0;
  const roundTrip = (makeCarrier, getter, setter) => () => {
    const carrier = makeCarrier();
    propagation.inject(ctx, carrier, setter);
    const extracted = propagation.extract(ROOT_CONTEXT, carrier, getter);
    sink += trace.getSpanContext(extracted).traceFlags;
  };
  // Extract only, of what the library hands over: Kafka delivers header values as Buffers, which the
  // default getter cannot read at all (the W3C parser needs text), so the adapter decodes them.
  const stringRecord = {};
  propagation.inject(ctx, stringRecord, defaultTextMapSetter);
  const kafkaDelivered = Object.fromEntries(Object.entries(stringRecord).map(([key, value]) => [key, Buffer.from(value)]));
  const bufferDecodingGetter = {
    keys: defaultTextMapGetter.keys,
    get: (carrier, key) => defaultTextMapGetter.get(carrier, key)?.toString(),
  };
  const extractOnly = (carrier, getter) => () => {
    sink += trace.getSpanContext(propagation.extract(ROOT_CONTEXT, carrier, getter)).traceFlags;
  };
  // [name, fn, index of the case it is compared with]
  const cases = [
    ['OpenTelemetry default getter/setter (record)', roundTrip(() => ({}), defaultTextMapGetter, defaultTextMapSetter), 0],
    ['recordAdapter', roundTrip(() => ({}), recordAdapter, recordAdapter), 0],
    ['kafkaHeadersAdapter (string values)', roundTrip(() => ({}), kafkaHeadersAdapter, kafkaHeadersAdapter), 0],
    ['amqpHeadersAdapter', roundTrip(() => ({}), amqpHeadersAdapter, amqpHeadersAdapter), 0],
    ['sqsAttributesAdapter', roundTrip(() => ({}), sqsAttributesAdapter, sqsAttributesAdapter), 0],
    ['documentFieldAdapter', roundTrip(() => ({ payload: 1 }), documentFieldAdapter(), documentFieldAdapter()), 0],
    ['envAdapter', roundTrip(() => ({}), envAdapter, envAdapter), 0],
    ['k8sEnvVarAdapter', roundTrip(() => [], k8sEnvVarAdapter, k8sEnvVarAdapter), 0],
    ['OpenTelemetry default getter, extract only (string values)', extractOnly(stringRecord, defaultTextMapGetter), 8],
    ['kafkaHeadersAdapter, extract only (string values)', extractOnly(stringRecord, kafkaHeadersAdapter), 8],
    // The least any getter must do with Buffer values: the default getter plus a toString().
    ['OpenTelemetry default getter + toString(), extract only (Buffer values)', extractOnly(kafkaDelivered, bufferDecodingGetter), 10],
    ['kafkaHeadersAdapter, extract only (Buffer values)', extractOnly(kafkaDelivered, kafkaHeadersAdapter), 10],
  ];
  // Rounds of every case in turn, each case's figure the median of its rounds: a burst of load on
  // the machine then spoils one round of a few cases, not one case's whole measurement.
  const rounds = quick ? 2 : 61;
  const means = cases.map(() => []);
  for (let round = 0; round < rounds + 1; round++) {
    const bench = new Bench({ time: quick ? 20 : 25, warmupTime: quick ? 10 : 5 });
    for (const [name, fn] of cases) bench.add(name, fn);
    await bench.run();
    // Round 0 only warms the JIT for every case.
    if (round > 0) bench.tasks.forEach((task, index) => means[index].push(task.result.latency.mean));
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const rows = cases.map(([name, , baseline], index) => ({
    name,
    nsPerOp: Math.round(median(means[index]) * 1e6),
    ratio: Number((median(means[index]) / median(means[baseline])).toFixed(3)),
    comparedWith: cases[baseline][0],
    rounds,
  }));
  if (sink < 0) throw new Error('unreachable');
  return rows;
}
