/**
 * Start-up failures (contract section 5: any start-up failure exits non-zero at once). A
 * `StartupError` names the component that failed (`redis`, `database`, `keys`, `listen`, …) and
 * says why in one line fit for an operator: never a credential (URLs are redacted) and never a
 * stack. Everything opened before the failure is closed again (`Openings`), so the process ends
 * instead of hanging on a half-built node's timers and connections.
 */
export class StartupError extends Error {
  override name = 'StartupError';
  constructor(
    /** What failed: `redis`, `database`, `keys`, `listen`. */
    readonly component: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The short reason of a connection error: its code (ECONNREFUSED, ETIMEDOUT…) or its first line. */
export function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,32}$/.test(code)) return code;
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 200);
}

/** What a node opened so far, closed in reverse order when start-up fails. */
export class Openings {
  private readonly closers: Array<{ name: string; close: () => unknown }> = [];

  /** Registers something opened; returns it. */
  add<T>(name: string, thing: T, close: (thing: T) => unknown): T {
    this.closers.push({ name, close: () => close(thing) });
    return thing;
  }

  /** Closes everything, newest first; a failing closer does not stop the others. */
  async closeAll(onError?: (name: string, error: unknown) => void): Promise<void> {
    while (this.closers.length > 0) {
      const { name, close } = this.closers.pop()!;
      try {
        await close();
      } catch (error) {
        onError?.(name, error);
      }
    }
  }
}

/** A service URL fit for a log line or an error message: user and password replaced, query dropped. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    if (u.username) u.username = '***';
    u.search = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return 'an unparsable URL';
  }
}
