export { TalkApp, type TalkOptions, type AttachOptions, type Listening, type TalkEvents, type HandshakeMiddleware } from './lib/app'
export { Router } from './lib/router'
export { Context, type RoomTarget, type Responder, type PreparedPush } from './lib/context'
export { EncodedReply } from './lib/encoded-reply'
export { compose, type Chain } from './lib/compose'
export { TalkError, STATUS, CLOSE, httpStatus, toWireError, codeOf, type ErrorCode, type WireError } from './lib/errors'
// The codec, wire constants, sessions and the handshake guard are in `talk/protocol` (lib/protocol-entry.ts).
export type { Codec } from './lib/protocol'
export type { Handshake, HandshakeHook } from './lib/handshake'
export type { Adapter, AdapterHost, OrderedPush } from './lib/adapters/adapter'
export { memoryAdapter } from './lib/adapters/memory'
export type {
  Client, ClientState, GlobalState, Locals, Params, User, PresenceEntry, PushOptions, HandshakeInfo,
  Middleware, Next, Handler, HandlerResult, ReplyOfContext, RouteSpec, RouteMap, RouteContext, BodyOf, ParamsOf, ReplyOf,
  Pushes, PushName, PushPayloadOf,
} from './lib/types'
export { validate, type ValidateOptions, type ValidationIssue } from './middleware/validate'
export type { Store, Publication, UpdateOptions } from './lib/store/store'
export { memoryStore } from './lib/store/memory'
export { bridge, type BridgeOptions, type HttpHandler } from './lib/http/bridge'
export { legacy, type LegacyOptions, type Respond } from './lib/http/respond'
export { resource, type ResourceAction, type ResourceOptions } from './lib/http/resource'
export { openapiDocument, type OpenApiOptions } from './lib/http/openapi'
export { asyncapiDocument, type AsyncApiOptions, type PushSchemas } from './lib/http/asyncapi'
export { HttpClient, isHttpClient } from './lib/http/client'
export type { HttpRoutes, HttpTarget, HttpMethod } from './lib/http/routes'
// The bundled middleware (auth, jwt, loadState, rateLimit, logger, timeout, fromExpress); validate, above, is one of them.
export * from './middleware'
export { redisAdapter, type RedisAdapter, type RedisAdapterOptions, type RedisAdapterStats } from './lib/adapters/redis'
export { redisStore, type RedisStoreOptions } from './lib/store/redis'
export type { ResumeOptions } from './lib/resume'
// Hardening and operations (docs/operations.md).
export { DEFAULT_RATE_LIMIT, type CloseOptions } from './lib/app'
export type { PublishOptions } from './lib/context'
export type { DropPolicy } from './lib/rooms'
export type { GuardOptions } from './lib/security/guard'
export { originCheck, DEFAULT_ORIGIN_POLICY, type OriginPolicy, type OriginCheck } from './lib/security/origin'
export { DEFAULT_JSON_LIMITS, exceedsJsonLimits, type JsonLimits } from './lib/security/json-bounds'
export { Metrics, metricsHandler, type MetricsOptions } from './lib/metrics'
export { healthHandler, healthReport, type HealthOptions, type HealthReport } from './lib/health'
export { installShutdown, installProcessHandlers, type ShutdownOptions, type ProcessHandlerOptions } from './lib/shutdown'
// The composition root: `talk()` hands the core the bundled middleware it installs by itself.
export type { BuiltIns } from './lib/built-ins'
import { TalkApp } from './lib/app'
import type { TalkOptions } from './lib/options'
import { BUNDLED_BUILT_INS } from './middleware/built-ins'

/** Creates a Talk app. @example const app = talk(); app.route('echo', (ctx) => ({ said: ctx.body.text })); await app.listen(3000) */
export function talk(options?: TalkOptions): TalkApp {
  return new TalkApp(options, BUNDLED_BUILT_INS)
}
