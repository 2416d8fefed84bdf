import type { User } from './types'

/**
 * A user's identity as Talk compares and logs it: its `id`, else `sub` (as in a JWT), else `name`,
 * as a string; undefined when it has none of them. Shared by auth, the rate limiter (`by: 'user'`)
 * and the logger.
 */
export function userKey(user: User | undefined): string | undefined {
  if (user === undefined || user === null) return undefined
  for (const field of ['id', 'sub', 'name'] as const) {
    const value = user[field]
    if (typeof value === 'string' || typeof value === 'number') return String(value)
  }
  return undefined
}
