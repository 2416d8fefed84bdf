import type { Store } from './store'

/**
 * A Store in this process's memory. A value is copied once, when written, as JSON would copy it
 * (like the Redis store stores it: no Dates, Maps or `undefined` fields survive), and the copy is
 * deep-frozen. Reads hand out that frozen value itself, so a read costs nothing whatever the value's
 * size; writing to it throws a TypeError (strict mode). A value written that shares parts with one
 * read from this store (`{ ...doc, nodes: [...doc.nodes, node] }`) copies only the new parts.
 */
export function memoryStore<T>(): Store<T> {
  const values = new Map<string, T>()
  // The objects this store froze: already JSON-safe copies, shared rather than copied again.
  const owned = new WeakSet<object>()
  const keep = (value: T): T => stored(value, owned) as T
  return {
    async get(key) {
      return values.get(key)
    },
    async set(key, value) {
      values.set(key, keep(value))
    },
    async update(key, change) {
      const current = values.get(key)
      // Synchronous between read and write: nothing else can run in between, so this is atomic.
      const next = change(current)
      if (next === undefined) return current
      const value = keep(next)
      values.set(key, value)
      return value
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

/**
 * A deep-frozen copy of `value` as `JSON.parse(JSON.stringify(value))` would make it: non-finite
 * numbers become null, `undefined`, functions and symbols are dropped from objects and become null
 * in arrays, anything with `toJSON` or a prototype of its own goes through JSON. Objects in `owned`
 * are returned as they are.
 */
function stored(value: unknown, owned: WeakSet<object>): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value
    case 'number':
      return Number.isFinite(value) ? value : null
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt')
    case 'object':
      break
    default:
      return undefined
  }
  if (value === null || owned.has(value)) return value
  let copy: unknown[] | Record<string, unknown>
  if (Array.isArray(value)) {
    copy = Array.from(value as unknown[], (item) => stored(item, owned) ?? null)
  } else {
    const proto = Object.getPrototypeOf(value) as unknown
    if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
      return stored(JSON.parse(JSON.stringify(value)), owned)
    }
    const object: Record<string, unknown> = {}
    for (const [key, item] of Object.entries(value)) {
      const kept = stored(item, owned)
      if (kept === undefined) continue
      // An own `__proto__` key (JSON.parse makes one) stays a plain property.
      if (key === '__proto__') Object.defineProperty(object, key, { value: kept, enumerable: true, writable: true, configurable: true })
      else object[key] = kept
    }
    copy = object
  }
  Object.freeze(copy)
  owned.add(copy)
  return copy
}
