/**
 * App state that several nodes share (the demo's documents): a key → JSON value map whose
 * `update` is atomic, so two nodes changing one key at once lose nothing. Values read (from `get`,
 * `update` and its `change`) are read-only: the memory store hands out its own deep-frozen value
 * (a write to it throws), so make changed copies (`{ ...doc, version: doc.version + 1 }`).
 */
export interface Store<T> {
  /** The value at `key`, or undefined. */
  get(key: string): Promise<T | undefined>
  /** Sets the value at `key`. */
  set(key: string, value: T): Promise<void>
  /**
   * Atomically replaces the value at `key` with `change(current)`; returning undefined from
   * `change` leaves it as it is. `change` may run more than once (on a conflict), so it must not
   * have side effects. Resolves with the value stored.
   */
  update(key: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined>
  /** Removes `key`; true if it was there. */
  delete(key: string): Promise<boolean>
  /** Every key that starts with `prefix`. */
  keys(prefix?: string): Promise<string[]>
  /** Releases connections; the memory store has none. */
  close(): Promise<void>
}
