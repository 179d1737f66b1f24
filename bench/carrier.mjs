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
  // Adapters read what the library hands them: Kafka delivers headers as Buffers.
  const kafkaDelivered = () => {
    const headers = {};
    propagation.inject(ctx, headers, kafkaHeadersAdapter);
    for (const key of Object.keys(headers)) headers[key] = Buffer.from(headers[key]);
    return headers;
  };
  const cases = [
    ['OpenTelemetry default getter/setter (record)', roundTrip(() => ({}), defaultTextMapGetter, defaultTextMapSetter)],
    ['recordAdapter', roundTrip(() => ({}), recordAdapter, recordAdapter)],
    ['kafkaHeadersAdapter (string values)', roundTrip(() => ({}), kafkaHeadersAdapter, kafkaHeadersAdapter)],
    ['amqpHeadersAdapter', roundTrip(() => ({}), amqpHeadersAdapter, amqpHeadersAdapter)],
    ['sqsAttributesAdapter', roundTrip(() => ({}), sqsAttributesAdapter, sqsAttributesAdapter)],
    ['documentFieldAdapter', roundTrip(() => ({ payload: 1 }), documentFieldAdapter(), documentFieldAdapter())],
    ['envAdapter', roundTrip(() => ({}), envAdapter, envAdapter)],
    ['k8sEnvVarAdapter', roundTrip(() => [], k8sEnvVarAdapter, k8sEnvVarAdapter)],
    [
      'kafkaHeadersAdapter extract of Buffer headers',
      () => {
        const extracted = propagation.extract(ROOT_CONTEXT, kafkaDelivered(), kafkaHeadersAdapter);
        sink += trace.getSpanContext(extracted).traceFlags;
      },
    ],
  ];
  // The first pass only warms the JIT for every case, so task order does not favour the later ones.
  let bench;
  for (const pass of ['warm-up', 'measured']) {
    bench = new Bench({ time: quick ? 100 : pass === 'warm-up' ? 300 : 1500, warmupTime: quick ? 50 : 300 });
    for (const [name, fn] of cases) bench.add(name, fn);
    await bench.run();
  }
  const baseline = bench.tasks[0].result.latency.mean;
  const rows = bench.tasks.map((task) => ({
    name: task.name,
    nsPerOp: Math.round(task.result.latency.mean * 1e6),
    ratio: Number((task.result.latency.mean / baseline).toFixed(3)),
    samples: task.result.latency.samples?.length ?? task.result.latency.samplesCount,
  }));
  if (sink < 0) throw new Error('unreachable');
  return rows;
}
