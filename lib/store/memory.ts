import type { Store } from './store'

/**
 * A Store in this process's memory. Values are copied in and out (structuredClone), so a caller
 * never holds a live reference and behaves as it will with a shared store.
 */
export function memoryStore<T>(): Store<T> {
  const values = new Map<string, T>()
  return {
    async get(key) {
      const value = values.get(key)
      return value === undefined ? undefined : structuredClone(value)
    },
    async set(key, value) {
      values.set(key, structuredClone(value))
    },
    async update(key, change) {
      const current = values.get(key)
      // Synchronous between read and write: nothing else can run in between, so this is atomic.
      const next = change(current === undefined ? undefined : structuredClone(current))
      if (next === undefined) return current === undefined ? undefined : structuredClone(current)
      values.set(key, structuredClone(next))
      return structuredClone(next)
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
