import type { Bindings, ChildLoggerOptions, Logger } from "pino";

/**
 * fastify gives every request a child logger bound to its request id. A pino child costs an object
 * graph and a serialised binding string per request, yet a served request almost never logs through
 * it (predictions have their own log line): this stand-in creates the child only when a method is
 * called, so the common request pays for one small object.
 */
export class LazyRequestLogger {
  #child: Logger | null = null;

  constructor(
    private readonly base: Logger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): Logger {
    return (this.#child ??= this.base.child(this.bindings, this.options));
  }

  get level(): string {
    return this.base.level;
  }

  set level(level: string) {
    this.real.level = level;
  }

  fatal(...args: Parameters<Logger["fatal"]>): void {
    this.real.fatal(...args);
  }
  error(...args: Parameters<Logger["error"]>): void {
    this.real.error(...args);
  }
  warn(...args: Parameters<Logger["warn"]>): void {
    this.real.warn(...args);
  }
  info(...args: Parameters<Logger["info"]>): void {
    this.real.info(...args);
  }
  debug(...args: Parameters<Logger["debug"]>): void {
    this.real.debug(...args);
  }
  trace(...args: Parameters<Logger["trace"]>): void {
    this.real.trace(...args);
  }
  silent(): void {}
  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real.child(bindings, options);
  }
}
