/** A message to publish on a pub/sub channel in one atomic step with a store write. */
export interface Publication {
  /** The pub/sub channel. */
  readonly channel: string
  /** The message, as the channel's subscribers read it. */
  readonly message: string
}

/** Options of one `Store.update`. */
export interface UpdateOptions<T> {
  /**
   * Builds a message from the value about to be written, to publish in the same atomic step as the
   * write (Redis: a PUBLISH inside the compare-and-set script), so the messages on a channel come in
   * the order of the writes, and a write retried after a lost reply publishes once. Called once per
   * attempt, right after `change`, and only by a store that can publish (the Redis store; the
   * memory store never calls it); returning undefined publishes nothing.
   */
  publish?: (next: T) => Publication | undefined
}

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
   * have side effects. Resolves with the value stored. A write is applied once even when the
   * connection drops after it ran (the Redis store tags each attempt, see docs/scaling.md).
   */
  update(key: string, change: (current: T | undefined) => T | undefined, options?: UpdateOptions<T>): Promise<T | undefined>
  /** Removes `key`; true if it was there. */
  delete(key: string): Promise<boolean>
  /** Every key that starts with `prefix`. */
  keys(prefix?: string): Promise<string[]>
  /** Releases connections; the memory store has none. */
  close(): Promise<void>
}
