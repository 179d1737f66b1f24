import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { spansFromOtlpJson, type CollectedSpan } from '@threadline/testing';
import { DoctorInputError, readSpans, readSpansFromText, spansFromExportRequest } from '../src/read';
import type { DoctorSpan } from '../src/types';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const SPAN = '53995c3f42cd8ad8';

/** An ExportTraceServiceRequest as the OTLP/HTTP JSON exporter and the Collector file exporter write it. */
function request(service: string, spans: Record<string, unknown>[]): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [{ scope: { name: '@threadline/kafkajs' }, spans }],
      },
    ],
  };
}

const otlpSpan = {
  traceId: TRACE,
  spanId: SPAN,
  parentSpanId: PARENT,
  name: 'process orders',
  kind: 5,
  startTimeUnixNano: '1735732800000000000',
  endTimeUnixNano: '1735732800012500000',
  attributes: [
    { key: 'messaging.system', value: { stringValue: 'kafka' } },
    { key: 'messaging.kafka.offset', value: { intValue: '42' } },
    { key: 'messaging.batch.message_count', value: { intValue: 3 } },
    { key: 'ratio', value: { doubleValue: 0.5 } },
    { key: 'ok', value: { boolValue: true } },
    { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '1' }] } } },
    { key: 'nested', value: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
  ],
  links: [{ traceId: TRACE.replace('4', '5'), spanId: PARENT, attributes: [] }],
  status: { code: 2, message: 'boom' },
};

describe('spansFromExportRequest', () => {
  test('flattens an OTLP/JSON request', () => {
    expect(spansFromExportRequest(request('payments', [otlpSpan]))).toEqual([
      {
        traceId: TRACE,
        spanId: SPAN,
        parentSpanId: PARENT,
        name: 'process orders',
        kind: 'CONSUMER',
        serviceName: 'payments',
        attributes: {
          'messaging.system': 'kafka',
          'messaging.kafka.offset': 42,
          'messaging.batch.message_count': 3,
          ratio: 0.5,
          ok: true,
          tags: ['a', 1],
          nested: { k: 'v' },
        },
        links: [{ traceId: TRACE.replace('4', '5'), spanId: PARENT, attributes: {} }],
        startTimeMs: 1735732800000,
        endTimeMs: 1735732800012.5,
      },
    ]);
  });

  test('reads base64 ids, enum names, numeric and Long times, and the pre-0.15 field name', () => {
    const [span] = spansFromExportRequest({
      resourceSpans: [
        {
          resource: { attributes: [] },
          instrumentationLibrarySpans: [
            {
              spans: [
                {
                  traceId: Buffer.from(TRACE, 'hex').toString('base64'),
                  spanId: Buffer.from(SPAN, 'hex').toString('base64'),
                  parentSpanId: '',
                  name: 'send',
                  kind: 'SPAN_KIND_PRODUCER',
                  startTimeUnixNano: 1_735_732_800_000_000_000,
                  endTimeUnixNano: { low: 0, high: 1 },
                },
              ],
            },
          ],
        },
      ],
    });
    expect(span).toMatchObject({ traceId: TRACE, spanId: SPAN, parentSpanId: undefined, kind: 'PRODUCER', serviceName: 'unknown_service' });
    expect(span!.startTimeMs).toBeCloseTo(1735732800000, -1);
    expect(span!.endTimeMs).toBeCloseTo(2 ** 32 / 1e6, 6);
  });

  test.each([
    ['no resourceSpans', {}, /not an OTLP ExportTraceServiceRequest/],
    ['a bad trace id', request('a', [{ ...otlpSpan, traceId: 'xyz' }]), /span "process orders" has no valid traceId \("xyz"\)/],
    ['no span id', request('a', [{ ...otlpSpan, spanId: undefined }]), /has no valid spanId/],
    ['no start time', request('a', [{ ...otlpSpan, startTimeUnixNano: undefined }]), /has no startTimeUnixNano/],
  ])('rejects %s clearly', (_case, input, message) => {
    expect(() => spansFromExportRequest(input, 'file.json')).toThrow(DoctorInputError);
    expect(() => spansFromExportRequest(input, 'file.json')).toThrow(message);
  });
});

test('reads what @threadline/testing reads, for every field a DoctorSpan has', () => {
  const input = request('payments', [otlpSpan, { ...otlpSpan, spanId: PARENT, parentSpanId: undefined, kind: 3, links: [] }]);
  const expected: DoctorSpan[] = spansFromOtlpJson(input).map((span: CollectedSpan) => ({
    traceId: span.traceId,
    spanId: span.spanId,
    parentSpanId: span.parentSpanId,
    name: span.name,
    kind: span.kind,
    serviceName: span.serviceName,
    attributes: span.attributes,
    links: span.links,
    startTimeMs: span.startTimeMs,
    endTimeMs: span.endTimeMs,
  }));
  expect(spansFromExportRequest(input)).toEqual(expected);
});

describe('readSpansFromText', () => {
  test('one pretty-printed request', () => {
    expect(readSpansFromText(JSON.stringify(request('a', [otlpSpan]), null, 2))).toHaveLength(1);
  });

  test('newline-delimited requests, as the Collector file exporter writes them', () => {
    const lines = [request('a', [otlpSpan]), request('b', [{ ...otlpSpan, spanId: PARENT }])].map((r) => JSON.stringify(r)).join('\n');
    expect(readSpansFromText(`${lines}\n\n`).map((span) => span.serviceName)).toEqual(['a', 'b']);
  });

  test('a JSON array of flat spans (JSON.stringify of the test collector) and of requests', () => {
    const flat = [{ traceId: TRACE, spanId: SPAN, name: 'x', kind: 'CLIENT', serviceName: 's', attributes: {}, links: [], startTimeMs: 1, endTimeMs: 2 }];
    expect(readSpansFromText(JSON.stringify(flat))).toEqual(flat);
    expect(readSpansFromText(JSON.stringify([request('a', [otlpSpan])]))).toHaveLength(1);
  });

  test('empty text is no spans', () => {
    expect(readSpansFromText('  \n')).toEqual([]);
  });

  test('broken JSON names the line', () => {
    const text = `${JSON.stringify(request('a', [otlpSpan]))}\n{"resourceSpans": [\n`;
    expect(() => readSpansFromText(text, 'spans.jsonl')).toThrow(/^spans\.jsonl:2: not JSON/);
    expect(() => readSpansFromText('{nope', 'x.json')).toThrow(/^x\.json: not JSON/);
    expect(() => readSpansFromText('[1]', 'x.json')).toThrow(/x\.json\[0\]: neither a span/);
  });
});

describe('readSpans', () => {
  const folder = mkdtempSync(join(tmpdir(), 'doctor-read-'));
  mkdirSync(join(folder, 'nested'));
  writeFileSync(join(folder, 'a.json'), JSON.stringify(request('a', [otlpSpan])));
  writeFileSync(join(folder, 'nested', 'b.jsonl'), JSON.stringify(request('b', [otlpSpan])));
  writeFileSync(join(folder, 'notes.txt'), 'not spans');
  mkdirSync(join(folder, 'empty'));
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  test('a folder is searched recursively for .json/.jsonl/.ndjson files', async () => {
    const result = await readSpans([folder]);
    expect(result.files).toEqual([join(folder, 'a.json'), join(folder, 'nested', 'b.jsonl')]);
    expect(result.spans.map((span) => span.serviceName)).toEqual(['a', 'b']);
  });

  test('files and stdin together', async () => {
    const stdin = Readable.from([Buffer.from(JSON.stringify(request('c', [otlpSpan])))]);
    const result = await readSpans([join(folder, 'a.json'), '-'], stdin);
    expect(result.files).toEqual([join(folder, 'a.json'), '-']);
    expect(result.spans.map((span) => span.serviceName)).toEqual(['a', 'c']);
  });

  test('a missing path and an empty folder are input errors', async () => {
    await expect(readSpans([join(folder, 'missing.json')])).rejects.toThrow(/missing\.json: no such file or folder/);
    await expect(readSpans([join(folder, 'empty')])).rejects.toThrow(/folder holds no \.json, \.jsonl, \.ndjson files/);
  });
});
