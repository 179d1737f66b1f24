/**
 * A plain-object copy of `source` to add a context to, leaving the caller's object untouched.
 * The copy has the source's own enumerable keys (and symbols, as `{ ...source }` would), or with
 * `inherited` every key a for-in loop sees (what amqplib's encoder reads). A `__proto__` key is
 * defined, not assigned, so it stays data instead of becoming the copy's prototype.
 *
 * Built key by key rather than with `{ ...source }`: V8 adds a key to a spread copy on a slow
 * path, and the caller adds the context's keys right after.
 */
export function copyForInjection(source: object | null | undefined, inherited = false): Record<string | symbol, unknown> {
  const copy: Record<string | symbol, unknown> = {};
  if (source === null || source === undefined) return copy;
  const from = source as Record<string | symbol, unknown>;
  if (inherited) {
    for (const key in from) define(copy, key, from[key]);
    return copy;
  }
  for (const key of Object.keys(from)) define(copy, key, from[key]);
  for (const symbol of Object.getOwnPropertySymbols(from)) {
    if (Object.prototype.propertyIsEnumerable.call(from, symbol)) copy[symbol] = from[symbol];
  }
  return copy;
}

function define(copy: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  else copy[key] = value;
}
