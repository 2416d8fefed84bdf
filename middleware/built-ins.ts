import type { BuiltIns } from '../lib/built-ins'
import { rateLimit } from './rate-limit'
import { timeout } from './timeout'
import { validate } from './validate'

/** The bundled middleware as the core's BuiltIns: the default rate limit, the `timeout` option's deadline, route spec checks. */
export const BUNDLED_BUILT_INS: BuiltIns = {
  rateLimit,
  timeout: (ms) => timeout({ ms }),
  validate,
}
