import type { DiagLogger } from '@opentelemetry/api';

/**
 * A diag warning logged once per distinct message; repeats go to debug, so a misconfiguration
 * or a recurring limit is seen without flooding the log.
 */
export class WarnOnce {
  private seen = new Set<string>();

  constructor(private readonly logger: DiagLogger) {}

  warn(message: string, ...args: unknown[]): void {
    if (this.seen.has(message)) {
      this.logger.debug(message, ...args);
      return;
    }
    this.seen.add(message);
    this.logger.warn(message, ...args);
  }

  /** Forget what was logged (a new config may bring the same problem back). */
  reset(): void {
    this.seen = new Set();
  }
}
