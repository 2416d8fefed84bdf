/** Bounds on the shape of a decoded frame, checked before any middleware or schema sees it. */
export interface JsonLimits {
  /** Containers (objects and arrays) nested in one frame, the frame itself counted as 1 (default 32). */
  maxDepth: number
  /** Keys of objects plus elements of arrays in one frame, in total (default 20000). */
  maxElements: number
}

/** The limits `talk()` applies unless told otherwise. */
export const DEFAULT_JSON_LIMITS: Readonly<JsonLimits> = Object.freeze({ maxDepth: 32, maxElements: 20_000 })

/**
 * Checks a parsed frame against the limits; returns why it breaks them, or undefined when it
 * does not. `textLength` is the length of the JSON text the value was parsed from: a text too
 * short to break a limit is not walked at all (depth d needs 2·d brackets, n elements need
 * about 2·n characters), which keeps the check free for the small frames that make up most traffic.
 */
export function exceedsJsonLimits(value: unknown, textLength: number, limits: JsonLimits = DEFAULT_JSON_LIMITS, noun = 'Frame'): string | undefined {
  if (textLength <= 2 * limits.maxDepth && textLength < 2 * limits.maxElements) return undefined
  if (typeof value !== 'object' || value === null) return undefined
  const left = walk(value, limits.maxDepth, limits.maxElements)
  if (left === TOO_DEEP) return `${noun} nests deeper than ${limits.maxDepth} levels`
  if (left < 0) return `${noun} has more than ${limits.maxElements} keys and array elements`
  return undefined
}

/** What `walk` returns when the depth ran out (any other negative result: the element budget did). */
const TOO_DEEP = -Infinity

/**
 * Walks a parsed value with `depthLeft` levels (this one included) and `budget` elements to spend;
 * returns the budget left, negative as soon as a limit is passed (so a hostile frame costs no more
 * than a legal one). A plain recursive function with for…in measured fastest here.
 */
function walk(value: object, depthLeft: number, budget: number): number {
  if (depthLeft === 0) return TOO_DEEP
  if (Array.isArray(value)) {
    budget -= value.length
    if (budget < 0) return budget
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (typeof item === 'object' && item !== null && (budget = walk(item, depthLeft - 1, budget)) < 0) return budget
    }
    return budget
  }
  // JSON.parse makes plain objects whose keys (even "__proto__") are all own properties.
  for (const key in value) {
    if (--budget < 0) return budget
    const item = (value as Record<string, unknown>)[key]
    if (typeof item === 'object' && item !== null && (budget = walk(item, depthLeft - 1, budget)) < 0) return budget
  }
  return budget
}

/** Checks limits given as options at start-up; throws a TypeError naming the bad one. */
export function jsonLimits(options: { maxDepth?: number | undefined; maxElements?: number | undefined } = {}): JsonLimits {
  const limits = {
    maxDepth: options.maxDepth ?? DEFAULT_JSON_LIMITS.maxDepth,
    maxElements: options.maxElements ?? DEFAULT_JSON_LIMITS.maxElements,
  }
  for (const key of ['maxDepth', 'maxElements'] as const) {
    const value = limits[key]
    if (!Number.isInteger(value) || value < 1) throw new TypeError(`talk(): ${key} must be a positive integer`)
  }
  return limits
}
