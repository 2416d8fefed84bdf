/** Runs a task after every task queued before it under the same key. */
export type Serial = <T>(key: string, task: () => T | Promise<T>) => Promise<T>

/**
 * One queue per key: tasks under one key run one at a time, in the order they were queued;
 * different keys run concurrently. A key with nothing queued holds no memory. A task that had to
 * wait for another starts on a later turn of the event loop, so a long queue (a crowd opening one
 * document at once) never holds the loop: other clients' requests and pings run between its tasks.
 *
 * @example
 * const serial = keyedSerial()
 * await serial('document/a', async () => { await store.update(...); publish(...) })
 */
export function keyedSerial(): Serial {
  const tails = new Map<string, Promise<unknown>>()
  return function serial<T>(key: string, task: () => T | Promise<T>): Promise<T> {
    const previous = tails.get(key)
    const result = previous === undefined ? Promise.resolve().then(task) : previous.then(nextTurn).then(task)
    // The tail never rejects, so one failed task does not poison the queue behind it.
    const tail = result.then(noop, noop)
    tails.set(key, tail)
    void tail.then(() => {
      if (tails.get(key) === tail) tails.delete(key)
    })
    return result
  }
}

function noop(): void {}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
