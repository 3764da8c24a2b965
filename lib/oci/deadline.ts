/**
 * A deadline for a whole command (cosign's `-t/--timeout`, default 3m): every request, every
 * retry and every backoff of the command ends by then, and the error says that the deadline
 * passed and what was being done. One {@link Deadline} is shared by every client of a command.
 * @module
 */

import { CosignError } from "../errors.ts";

/** Formats milliseconds as a Go duration (`2s`, `1.5s`, `3m0s`, `1h0m0s`, `250ms`). */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = Number(((ms % 60_000) / 1000).toFixed(3));
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

/**
 * A point in time after which a command does no more network work.
 * @example
 * ```ts
 * import { Deadline } from "@cosign-deno/cosign";
 * const deadline = new Deadline(30_000); // --timeout 30s
 * const fetchBounded = deadline.fetch(); // every request ends by the deadline
 * ```
 */
export class Deadline {
  /** The length of the deadline, ms. */
  readonly ms: number;
  /** Aborts when the deadline passes. */
  readonly signal: AbortSignal;
  /** What set it, for messages (e.g. `--timeout`). */
  readonly source: string;
  readonly #end: number;

  /**
   * Starts a deadline `ms` from now.
   * @param ms its length
   * @param source what set it, named in the error (default `--timeout`)
   * @example
   * ```ts
   * import { Deadline } from "./deadline.ts";
   * const d = new Deadline(180_000);
   * console.log(d.passed); // false
   * ```
   */
  constructor(ms: number, source = "--timeout") {
    this.ms = ms;
    this.source = source;
    this.#end = performance.now() + ms;
    this.signal = AbortSignal.timeout(ms);
  }

  /** Milliseconds left (0 once passed). */
  remaining(): number {
    return Math.max(0, this.#end - performance.now());
  }

  /** True once the deadline has passed. */
  get passed(): boolean {
    return this.signal.aborted || this.remaining() <= 0;
  }

  /**
   * The error for work cut off by the deadline.
   * @param doing what was being done, e.g. `waiting for registry r:5000 to answer GET /v2/`
   */
  error(doing: string): CosignError {
    return new CosignError(
      "DEADLINE_EXCEEDED",
      `Deadline of ${formatDuration(this.ms)} (${this.source}) passed while ${doing}`,
    );
  }

  /**
   * A `fetch` bound to the deadline, for clients that take one (Fulcio, a TSA, Rekor v2): each
   * request is aborted when the deadline passes and then fails with {@link error}.
   * @param base the fetch to wrap (default the global one)
   */
  fetch(base: typeof fetch = fetch): typeof fetch {
    return async (input, init) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const method = init?.method ?? (input instanceof Request ? input.method : "GET");
      const doing = `waiting for ${url.host} to answer ${method} ${url.pathname}`;
      if (this.passed) throw this.error(doing);
      const signal = init?.signal ? AbortSignal.any([init.signal, this.signal]) : this.signal;
      try {
        return await base(input, { ...init, signal });
      } catch (e) {
        if (this.passed && !(e instanceof CosignError)) throw this.error(doing);
        throw e;
      }
    };
  }

  /**
   * Waits `ms`, or throws {@link error} at once when the wait would end after the deadline
   * (a retry that could not be sent in time is not waited for).
   * @param sleep the sleep to use
   */
  async wait(ms: number, doing: string, sleep: (ms: number) => Promise<void>): Promise<void> {
    if (ms >= this.remaining()) throw this.error(doing);
    await sleep(ms);
    if (this.passed) throw this.error(doing);
  }
}
