import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DoctorLink, DoctorSpan, DoctorSpanKind } from './types';

/** Input the doctor cannot read; the CLI prints the message and exits 2. */
export class DoctorInputError extends Error {
  override name = 'DoctorInputError';
}

const KINDS: DoctorSpanKind[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
/** Files a folder is searched for. */
export const SPAN_FILE_EXTENSIONS = ['.json', '.jsonl', '.ndjson'];

// Parsed OTLP/JSON, read defensively field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- untyped JSON input, every read is checked
type Json = Record<string, any>;

function anyValue(value: Json | undefined): unknown {
  if (value === undefined || value === null || typeof value !== 'object') return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return Number(value.doubleValue);
  if ('arrayValue' in value) return ((value.arrayValue?.values ?? []) as Json[]).map(anyValue);
  if ('kvlistValue' in value) return attributesOf(value.kvlistValue?.values);
  if ('bytesValue' in value) return value.bytesValue;
  return undefined;
}

function attributesOf(list: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  if (!Array.isArray(list)) return result;
  for (const entry of list as Json[]) {
    if (entry && typeof entry.key === 'string') result[entry.key] = anyValue(entry.value);
  }
  return result;
}

/**
 * OTLP/JSON ids are hex; protobuf's generic JSON mapping (some exporters) writes base64.
 * Returns lowercase hex, or undefined for a missing or unreadable id.
 */
function id(value: unknown, bytes: number): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  if (value.length === bytes * 2 && /^[0-9a-f]+$/i.test(value)) return value.toLowerCase();
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) {
    const decoded = Buffer.from(value, 'base64');
    if (decoded.length === bytes) return decoded.toString('hex');
  }
  return undefined;
}

/** Nanoseconds as a decimal string, a number, or a protobuf Long `{ low, high }`, to milliseconds. */
function nanosToMs(value: unknown): number {
  if (typeof value === 'string' && /^\d+$/.test(value)) return Number(BigInt(value) / 1000n) / 1000;
  if (typeof value === 'number' && Number.isFinite(value)) return value / 1e6;
  if (value && typeof value === 'object' && 'low' in value && 'high' in value) {
    const { low, high } = value as { low: number; high: number };
    return ((high >>> 0) * 2 ** 32 + (low >>> 0)) / 1e6;
  }
  return Number.NaN;
}

function kindOf(value: unknown): DoctorSpanKind {
  if (typeof value === 'number') return KINDS[value] ?? 'UNSPECIFIED';
  if (typeof value === 'string') {
    const name = value.replace(/^SPAN_KIND_/, '') as DoctorSpanKind;
    if (KINDS.includes(name)) return name;
  }
  return 'UNSPECIFIED';
}

/** Spans of one OTLP/JSON ExportTraceServiceRequest. `where` names the input in error messages. */
export function spansFromExportRequest(request: unknown, where = 'input'): DoctorSpan[] {
  if (request === null || typeof request !== 'object' || !Array.isArray((request as Json).resourceSpans)) {
    throw new DoctorInputError(`${where}: not an OTLP ExportTraceServiceRequest (no "resourceSpans" array)`);
  }
  const spans: DoctorSpan[] = [];
  for (const resourceSpans of (request as Json).resourceSpans as Json[]) {
    const resource = attributesOf(resourceSpans?.resource?.attributes);
    const serviceName = typeof resource['service.name'] === 'string' ? resource['service.name'] : 'unknown_service';
    // `instrumentationLibrarySpans` is the name before OTLP 0.15.
    const scopes = (resourceSpans?.scopeSpans ?? resourceSpans?.instrumentationLibrarySpans ?? []) as Json[];
    for (const scopeSpans of scopes) {
      for (const span of (scopeSpans?.spans ?? []) as Json[]) {
        const position = `${where}: span "${span?.name ?? '?'}"`;
        const traceId = id(span?.traceId, 16);
        const spanId = id(span?.spanId, 8);
        if (traceId === undefined) throw new DoctorInputError(`${position} has no valid traceId (${JSON.stringify(span?.traceId)})`);
        if (spanId === undefined) throw new DoctorInputError(`${position} has no valid spanId (${JSON.stringify(span?.spanId)})`);
        const startTimeMs = nanosToMs(span.startTimeUnixNano);
        const endTimeMs = nanosToMs(span.endTimeUnixNano);
        if (Number.isNaN(startTimeMs)) throw new DoctorInputError(`${position} has no startTimeUnixNano`);
        const links: DoctorLink[] = [];
        for (const link of (span.links ?? []) as Json[]) {
          const linkTraceId = id(link?.traceId, 16);
          const linkSpanId = id(link?.spanId, 8);
          if (linkTraceId !== undefined && linkSpanId !== undefined) {
            links.push({ traceId: linkTraceId, spanId: linkSpanId, attributes: attributesOf(link.attributes) });
          }
        }
        spans.push({
          traceId,
          spanId,
          parentSpanId: id(span.parentSpanId, 8),
          name: typeof span.name === 'string' ? span.name : '',
          kind: kindOf(span.kind),
          serviceName,
          attributes: attributesOf(span.attributes),
          links,
          startTimeMs,
          endTimeMs: Number.isNaN(endTimeMs) ? startTimeMs : endTimeMs,
        });
      }
    }
  }
  return spans;
}

function isFlatSpan(value: unknown): value is DoctorSpan {
  const span = value as Json;
  return (
    span !== null &&
    typeof span === 'object' &&
    typeof span.traceId === 'string' &&
    typeof span.spanId === 'string' &&
    typeof span.serviceName === 'string' &&
    typeof span.startTimeMs === 'number'
  );
}

function fromDocument(document: unknown, where: string): DoctorSpan[] {
  if (Array.isArray(document)) {
    // Flat spans, e.g. JSON.stringify(collector.spans()), or a list of export requests.
    const spans: DoctorSpan[] = [];
    document.forEach((item, index) => {
      if (isFlatSpan(item)) {
        spans.push({
          ...item,
          kind: kindOf(item.kind),
          attributes: item.attributes ?? {},
          links: item.links ?? [],
          endTimeMs: typeof item.endTimeMs === 'number' ? item.endTimeMs : item.startTimeMs,
        });
      } else if (item && typeof item === 'object' && 'resourceSpans' in item) {
        spans.push(...spansFromExportRequest(item, `${where}[${index}]`));
      } else {
        throw new DoctorInputError(`${where}[${index}]: neither a span (traceId, spanId, serviceName, startTimeMs) nor an OTLP export request`);
      }
    });
    return spans;
  }
  return spansFromExportRequest(document, where);
}

/**
 * Reads spans from text: one OTLP/JSON ExportTraceServiceRequest; newline-delimited requests
 * (what the OpenTelemetry Collector's file exporter writes); or a JSON array of flat spans
 * (the shape `@threadline/testing`'s collector returns). `where` names the input in errors.
 */
export function readSpansFromText(content: string, where = 'input'): DoctorSpan[] {
  const trimmed = content.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') return [];
  try {
    return fromDocument(JSON.parse(trimmed), where);
  } catch (error) {
    if (error instanceof DoctorInputError) throw error;
    if (!trimmed.includes('\n')) throw new DoctorInputError(`${where}: not JSON (${(error as Error).message})`);
  }
  const spans: DoctorSpan[] = [];
  trimmed.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let document: unknown;
    try {
      document = JSON.parse(line);
    } catch (error) {
      throw new DoctorInputError(`${where}:${index + 1}: not JSON (${(error as Error).message}); expected one OTLP JSON document or one per line`);
    }
    spans.push(...fromDocument(document, `${where}:${index + 1}`));
  });
  return spans;
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await filesUnder(path)));
    else if (SPAN_FILE_EXTENSIONS.some((extension) => entry.name.endsWith(extension))) files.push(path);
  }
  return files;
}

function readStream(stream: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer | string) => chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.on('error', reject);
  });
}

export interface ReadResult {
  spans: DoctorSpan[];
  /** Every file read, in order (`-` for stdin). */
  files: string[];
}

/**
 * Reads spans from files, folders (searched recursively for .json, .jsonl and .ndjson) and `-`
 * (stdin). Throws DoctorInputError naming the file (and line) that cannot be read.
 */
export async function readSpans(inputs: readonly string[], stdin: NodeJS.ReadableStream = process.stdin): Promise<ReadResult> {
  const spans: DoctorSpan[] = [];
  const files: string[] = [];
  for (const input of inputs) {
    if (input === '-') {
      files.push('-');
      spans.push(...readSpansFromText(await readStream(stdin), 'stdin'));
      continue;
    }
    let isFolder: boolean;
    try {
      isFolder = (await stat(input)).isDirectory();
    } catch (error) {
      throw new DoctorInputError(`${input}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (error as Error).message}`);
    }
    const found = isFolder ? await filesUnder(input) : [input];
    if (isFolder && found.length === 0) {
      throw new DoctorInputError(`${input}: folder holds no ${SPAN_FILE_EXTENSIONS.join(', ')} files`);
    }
    for (const file of found) {
      let content: string;
      try {
        content = await readFile(file, 'utf8');
      } catch (error) {
        throw new DoctorInputError(`${file}: ${(error as Error).message}`);
      }
      files.push(file);
      spans.push(...readSpansFromText(content, file));
    }
  }
  return { spans, files };
}
