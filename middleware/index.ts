// The bundled middleware: one file each, re-exported here and from the package entry.
export {
  auth, userKey, PROTOCOL_TOKEN_PREFIX,
  type AuthOptions, type AuthMiddleware, type TokenSource, type Verified, type Verify, type UserPredicate,
} from './auth'
export { jwt, type JwtOptions } from './jwt'
export { validate, toIssues, MAX_ISSUES, type ValidateOptions, type ValidationIssue, type Validator } from './validate'
export { loadState, type LoadState, type LoadStateOptions, type LoadStateCache, type MessageLocals } from './load-state'
export { rateLimit, TokenBucket, type RateLimit, type RateLimitOptions, type RateLimitBy } from './rate-limit'
export { logger, redact, redactUrl, isSecretKey, REDACTED, type LoggerOptions, type RequestLogger } from './logger'
export { timeout, timedOut, type TimeoutOptions } from './timeout'
export {
  fromExpress, codeForStatus, type ExpressMiddleware, type FromExpressOptions, type UpgradeRequest,
} from './from-express'
export { mountExpress, type MountExpressOptions, type ExpressEndpoint } from './mount-express'
