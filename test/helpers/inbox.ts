/**
 * What every test client keeps of the frames it received: a list, and bounded waits for the
 * first frame (already received or future) that matches. Shared by the raw `ws` client and the
 * Socket.IO client.
 */
export type Frame = Record<string, unknown> & { type: string };

export class FrameInbox {
  readonly frames: Frame[] = [];
  private waiters: Array<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];

  /** Called by the transport for each frame received. */
  protected receive(frame: Frame): void {
    this.frames.push(frame);
    const i = this.waiters.findIndex((w) => w.match(frame));
    if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve(frame);
  }

  /** Resolves with the first frame (already received or future) matching; rejects after `timeoutMs`. */
  waitFor(match: (f: Frame) => boolean, timeoutMs = 3000): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) {
      this.frames.splice(this.frames.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-5))}`));
      }, timeoutMs);
      const done = (f: Frame): void => {
        clearTimeout(timer);
        this.frames.splice(this.frames.indexOf(f), 1);
        resolve(f);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  next(type: string, timeoutMs?: number): Promise<Frame> {
    return this.waitFor((f) => f.type === type, timeoutMs);
  }

  /** True when no frame matching arrives within `ms`. */
  async quiet(match: (f: Frame) => boolean, ms = 200): Promise<boolean> {
    try {
      await this.waitFor(match, ms);
      return false;
    } catch {
      return true;
    }
  }
}
