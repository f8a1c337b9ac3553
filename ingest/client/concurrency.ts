// A FIFO counting semaphore: bounds how many HTTP requests the client has in flight.
// The rate budget bounds requests per minute; this bounds them per moment, so a burst
// of prefetched pages does not open dozens of sockets against QBench at once.

export class Semaphore {
  private available: number;
  private readonly queue: Array<{ grant: () => void; reject: (r: unknown) => void; signal?: AbortSignal; onAbort?: () => void }> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`maxConcurrency must be an integer >= 1; got ${size}`);
    this.available = size;
  }

  /** Waits for a slot; returns the function that gives it back (call it exactly once). */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.available > 0 && this.queue.length === 0) {
      this.available--;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const entry: (typeof this.queue)[number] = { grant: () => resolve(this.releaser()), reject, signal };
      if (signal) {
        entry.onAbort = () => {
          const i = this.queue.indexOf(entry);
          if (i >= 0) this.queue.splice(i, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      this.queue.push(entry);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.queue.shift();
      if (next) {
        if (next.signal && next.onAbort) next.signal.removeEventListener('abort', next.onAbort);
        next.grant(); // hand the slot straight over: `available` stays unchanged
      } else {
        this.available++;
      }
    };
  }
}
