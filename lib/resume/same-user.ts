import type { User } from '../types'

/** Whether two handshakes name the same user: by `id`, else `sub`, else the whole object. */
export function sameUser(a: User | undefined, b: User | undefined): boolean {
  if (a === undefined || b === undefined) return a === b
  const key = 'id' in a || 'id' in b ? 'id' : 'sub' in a || 'sub' in b ? 'sub' : undefined
  if (key !== undefined) return a[key] === b[key]
  try {
    return JSON.stringify(a) === JSON.stringify(b)
  } catch {
    return false
  }
}
