import { randomBytes } from 'node:crypto'
import { TalkError, type Handshake, type User } from 'talk'

/** Longest display name, in characters. */
export const MAX_NAME = 32

/**
 * A handshake hook that names the connection's user from the `user` query parameter
 * (`ws://host/?user=alice`), or `guest-xxxx` without one. This is a display name, not
 * authentication: anyone can claim any name. When an earlier hook (such as `auth`) already set
 * the user, it is kept. A name that is empty after trimming, longer than MAX_NAME or holds
 * control characters refuses the upgrade with 400 BAD_REQUEST.
 */
export function nameFromQuery(): (handshake: Handshake) => void {
  return function nameFromQuery(hs) {
    if (hs.user !== undefined) return
    const raw = hs.query.user
    if (raw === undefined) {
      hs.user = { name: `guest-${randomBytes(2).toString('hex')}` }
      return
    }
    const name = raw.trim()
    if (name.length === 0 || name.length > MAX_NAME || /[\u0000-\u001f\u007f]/.test(name)) {
      throw new TalkError('BAD_REQUEST', `user must be 1–${MAX_NAME} printable characters`)
    }
    hs.user = { name }
  }
}

/** The name shown in `active-users`: the user's `name`, else its `sub` (as `auth` sets it), else the client id. */
export function displayName(user: User | undefined, clientId: string): string {
  if (typeof user?.name === 'string') return user.name
  if (typeof user?.sub === 'string') return user.sub
  return clientId
}
