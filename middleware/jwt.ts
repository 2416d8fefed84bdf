import { createPublicKey, KeyObject } from 'node:crypto'
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey, type JWTVerifyOptions } from 'jose'
import { TalkError } from '../lib/errors'
import type { User } from '../lib/types'
import type { Verified, Verify } from './auth'

/** Options of `jwt()`: exactly one of `secret`, `publicKey` or `jwks`. */
export interface JwtOptions {
  /** HMAC secret (HS256 unless `algorithms` says otherwise), at least 32 bytes. */
  secret?: string | Uint8Array
  /** A public key: PEM (SPKI) text or a `KeyObject`; RS256 unless `algorithms` says otherwise. */
  publicKey?: string | KeyObject
  /** A JSON Web Key Set held locally (no fetching); the token's `kid` picks the key. */
  jwks?: JSONWebKeySet
  /** Accepted `alg` values (default: `['HS256']` with a secret, `['RS256']` with a public key, any asymmetric one with a JWKS). */
  algorithms?: string[]
  /** Required `iss` claim (one of these). */
  issuer?: string | string[]
  /** Required `aud` claim (one of these). */
  audience?: string | string[]
  /** Leeway for `exp` / `nbf` checks, in seconds (default 0). */
  clockToleranceSec?: number
  /** Turns the verified claims into `client.user` (default: the claims themselves); undefined refuses the token. */
  user?: (payload: JWTPayload) => User | undefined
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/**
 * A `verify` function for `auth()` that checks JSON Web Tokens with `jose`: signature, `exp`, `nbf`,
 * and `iss` / `aud` when given. A bad token is refused (`UNAUTHORIZED`, "Invalid token"), an expired
 * one says "Token expired"; the token's `exp` becomes the connection's expiry.
 *
 * @example app.use(auth({ verify: jwt({ secret: process.env.JWT_SECRET ?? '' }) }))
 */
export function jwt(options: JwtOptions): Verify {
  if (options === null || typeof options !== 'object') throw new TypeError('jwt() takes an options object')
  const given = (['secret', 'publicKey', 'jwks'] as const).filter((k) => options[k] !== undefined)
  if (given.length !== 1) throw new TypeError('jwt() needs exactly one of "secret", "publicKey" or "jwks"')
  const { secret, publicKey, jwks, user = (payload: JWTPayload) => payload as User } = options
  if (typeof user !== 'function') throw new TypeError('jwt(): "user" must be a function')
  if (options.algorithms !== undefined && (!Array.isArray(options.algorithms) || options.algorithms.length === 0)) {
    throw new TypeError('jwt(): "algorithms" must be a non-empty array')
  }

  let key: KeyObject | Uint8Array | JWTVerifyGetKey
  let algorithms: string[]
  if (secret !== undefined) {
    const bytes = typeof secret === 'string' ? new TextEncoder().encode(secret) : secret
    if (!(bytes instanceof Uint8Array) || bytes.length < 32) throw new TypeError('jwt(): "secret" must be at least 32 bytes')
    algorithms = options.algorithms ?? ['HS256']
    key = bytes
  } else if (publicKey !== undefined) {
    algorithms = options.algorithms ?? ['RS256']
    let keyObject: KeyObject
    try {
      keyObject = publicKey instanceof KeyObject && publicKey.type === 'public' ? publicKey : createPublicKey(publicKey)
    } catch {
      throw new TypeError('jwt(): "publicKey" must be PEM (SPKI) text or a public KeyObject')
    }
    key = keyObject
  } else {
    if (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) throw new TypeError('jwt(): "jwks" must be { keys: [...] }')
    algorithms = options.algorithms ?? ASYMMETRIC
    key = createLocalJWKSet(jwks) as JWTVerifyGetKey
  }

  const verifyOptions: JWTVerifyOptions = {
    algorithms,
    issuer: options.issuer,
    audience: options.audience,
    clockTolerance: options.clockToleranceSec ?? 0,
  }

  return async function verifyJwt(token): Promise<Verified | undefined> {
    let payload: JWTPayload
    try {
      const result = typeof key === 'function' ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, key, verifyOptions)
      payload = result.payload
    } catch (err) {
      if (err instanceof errors.JWTExpired) throw new TalkError('UNAUTHORIZED', 'Token expired')
      // Every jose error is a bad token (malformed, wrong signature, wrong claims, no matching key).
      if (err instanceof errors.JOSEError) return undefined
      throw err
    }
    const mapped = user(payload)
    if (mapped === undefined) return undefined
    return typeof payload.exp === 'number' ? { user: mapped, expiresAt: payload.exp * 1000 } : { user: mapped }
  }
}
