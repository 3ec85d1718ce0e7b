/** Raised when a promise does not settle in time. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * Rejects when `p` takes longer than `ms` (the work itself is not cancelled). `makeError` lets a caller raise its
 * own subclass; the default is a TimeoutError naming `what`.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, makeError: () => Error = () => new TimeoutError(`${what} timed out after ${ms} ms`)): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(makeError()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
