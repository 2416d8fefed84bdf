export { talk, TalkApp, type TalkOptions, type AttachOptions, type Listening, type TalkEvents, type HandshakeMiddleware } from './app'
export { Router } from './router'
export { Context, type RoomTarget, type Responder, type PreparedPush } from './context'
export { compose, type Chain } from './compose'
export { TalkError, STATUS, CLOSE, httpStatus, toWireError, codeOf, type ErrorCode, type WireError } from './errors'
export {
  decode, encodeSuccess, encodeError, encodePush, slashName, colonName, JSON_CODEC, PROTOCOL_VERSION,
  type Codec, type Ref, type Envelope, type Decoded,
} from './protocol'
export type { Handshake, HandshakeHook } from './handshake'
export type { Adapter, AdapterHost, OrderedPush } from './adapters/adapter'
export { memoryAdapter } from './adapters/memory'
export type {
  Client, ClientState, GlobalState, Locals, Params, User, PresenceEntry, PushOptions, HandshakeInfo,
  Middleware, Next, Handler, HandlerResult, ReplyOfContext, RouteSpec, RouteMap, RouteContext, BodyOf, ParamsOf, ReplyOf,
  Pushes, PushName, PushPayloadOf,
} from './types'
export { validate, type ValidateOptions, type ValidationIssue } from '../middleware/validate'
export type { Store, Publication, UpdateOptions } from './store/store'
export { memoryStore } from './store/memory'
export { bridge, type BridgeOptions, type HttpHandler } from './http/bridge'
export { legacy, type LegacyOptions, type Respond } from './http/respond'
export { resource, type ResourceAction, type ResourceOptions } from './http/resource'
export { openapiDocument, type OpenApiOptions } from './http/openapi'
export { asyncapiDocument, type AsyncApiOptions, type PushSchemas } from './http/asyncapi'
export { HttpClient, isHttpClient } from './http/client'
export type { HttpRoutes, HttpTarget, HttpMethod } from './http/routes'
// The bundled middleware (auth, jwt, loadState, rateLimit, logger, timeout, fromExpress); validate, above, is one of them.
export * from '../middleware'
export { redisAdapter, type RedisAdapter, type RedisAdapterOptions, type RedisAdapterStats } from './adapters/redis'
export { redisStore, type RedisStoreOptions } from './store/redis'
export { Sessions, Session, type ResumeOptions, type SessionsHost, type Claim } from './resume'
export { PING_ROUTE, RESUME_PARAM, SEEN_PARAM } from './protocol'
// Hardening and operations (docs/operations.md).
export { DEFAULT_RATE_LIMIT, type CloseOptions } from './app'
export type { PublishOptions } from './context'
export type { DropPolicy } from './rooms'
export { HandshakeGuard, type GuardOptions } from './security/guard'
export { originCheck, DEFAULT_ORIGIN_POLICY, type OriginPolicy, type OriginCheck } from './security/origin'
export { DEFAULT_JSON_LIMITS, exceedsJsonLimits, type JsonLimits } from './security/json-bounds'
export { Metrics, metricsHandler, type MetricsOptions } from './metrics'
export { healthHandler, healthReport, type HealthOptions, type HealthReport } from './health'
export { installShutdown, installProcessHandlers, type ShutdownOptions, type ProcessHandlerOptions } from './shutdown'
