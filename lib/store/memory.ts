import type { Store } from './store'

/**
 * A Store in this process's memory. Values are copied in and out as JSON, like the Redis store
 * stores them, so a caller never holds a live reference and what survives (no Dates, Maps or
 * `undefined` fields) is the same as with a shared store.
 */
export function memoryStore<T>(): Store<T> {
  const values = new Map<string, T>()
  return {
    async get(key) {
      const value = values.get(key)
      return value === undefined ? undefined : copy(value)
    },
    async set(key, value) {
      values.set(key, copy(value))
    },
    async update(key, change) {
      const current = values.get(key)
      // Synchronous between read and write: nothing else can run in between, so this is atomic.
      const next = change(current === undefined ? undefined : copy(current))
      if (next === undefined) return current === undefined ? undefined : copy(current)
      values.set(key, copy(next))
      return copy(next)
    },
    async delete(key) {
      return values.delete(key)
    },
    async keys(prefix = '') {
      return [...values.keys()].filter((k) => k.startsWith(prefix))
    },
    async close() {},
  }
}

function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}
