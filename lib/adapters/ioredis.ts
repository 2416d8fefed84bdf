import type { Redis } from 'ioredis'

/**
 * The ioredis client class, loaded on first use: an app that never asks for Redis does not pay for
 * it (ioredis adds about 7 MB of heap and 60 ms to start-up here).
 */
export function redisClass(): typeof Redis {
  // A type-only import above, a require here: TypeScript keeps the types and drops the load.
  return (require('ioredis') as { default: typeof Redis }).default
}
