import { EncodedReply } from './encoded-reply'
import { TalkError, toWireError } from './errors'
import { DEFAULT_JSON_LIMITS, exceedsJsonLimits, type JsonLimits } from './security/json-bounds'

/** The protocol version this server speaks; sent in the welcome frame. */
export const PROTOCOL_VERSION = 1

/** Longest string `ref` accepted, in characters. */
const MAX_REF_LENGTH = 64

/**
 * The codec seam: how frames become text and back. The default is JSON; a replacement
 * must produce JSON-compatible text (replies are assembled from its output).
 */
export interface Codec {
  /** Text of one frame → value. Throws on malformed input. */
  parse(text: string): unknown
  /** A value → text of one frame. */
  stringify(value: unknown): string
}

/** The default codec: the platform's JSON. */
export const JSON_CODEC: Codec = { parse: JSON.parse, stringify: JSON.stringify }

/** A request's ref: a short string or a safe integer, echoed in its reply. */
export type Ref = string | number

/** A decoded, valid request envelope. */
export interface Envelope {
  /** Route name in slash form. */
  name: string
  ref: Ref | undefined
  /** Everything but `route`, `command`, `ref` and `traceparent`. */
  body: Record<string, unknown>
  /** A W3C `traceparent` the client sent with the request (validated), carried to logs and pushes. */
  trace?: string
}

/** The result of decoding a frame: an envelope, or an error to answer with (and the ref, if one could be read). */
export type Decoded =
  | { ok: true; envelope: Envelope }
  | { ok: false; ref: Ref | undefined; error: TalkError }

/** Slash form of a wire name: `document:get` → `document/get`. */
export function slashName(name: string): string {
  return name.indexOf(':') === -1 ? name : name.replaceAll(':', '/')
}

/** Colon form of a name, as pushes carry it: `node/create` → `node:create`. */
export function colonName(name: string): string {
  return name.indexOf('/') === -1 ? name : name.replaceAll('/', ':')
}

function isRef(value: unknown): value is Ref {
  return typeof value === 'string'
    ? value.length <= MAX_REF_LENGTH
    : typeof value === 'number' && Number.isSafeInteger(value)
}

function fail(message: string, ref?: Ref): Decoded {
  return { ok: false, ref, error: new TalkError('BAD_REQUEST', message) }
}

/** A W3C trace context header value: version-traceid-parentid-flags, ids not all zero. */
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/

/** A valid W3C `traceparent` value, or undefined for anything else (a malformed one is dropped, as the spec asks). */
export function traceContext(value: unknown): string | undefined {
  return typeof value === 'string' && value.length === 55 && TRACEPARENT.test(value) ? value : undefined
}

/**
 * Decodes one text frame into a request envelope, or says why it is not one (`BAD_REQUEST`),
 * including a frame nested deeper or holding more keys and elements than `limits` allow.
 * A `traceparent` field is taken out of the body; a malformed one is dropped, as W3C Trace Context asks.
 * Never throws.
 */
export function decode(text: string, codec: Codec = JSON_CODEC, limits: JsonLimits = DEFAULT_JSON_LIMITS): Decoded {
  let frame: unknown
  try {
    frame = codec.parse(text)
  } catch {
    return fail('Frame is not valid JSON')
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame)) {
    return fail('Frame must be a JSON object')
  }
  const fields = frame as Record<string, unknown>
  const ref = fields.ref
  if (ref !== undefined && !isRef(ref)) {
    return fail(`"ref" must be a string of at most ${MAX_REF_LENGTH} characters or a safe integer`)
  }
  const route = fields.route
  const command = fields.command
  let name: string
  if (route === undefined && command === undefined) {
    return fail('Frame has no "route" or "command"', ref)
  } else if (route !== undefined && typeof route !== 'string') {
    return fail('"route" must be a string', ref)
  } else if (command !== undefined && typeof command !== 'string') {
    return fail('"command" must be a string', ref)
  } else {
    name = slashName((route ?? command) as string)
    if (route !== undefined && command !== undefined && slashName(command as string) !== name) {
      return fail('"route" and "command" name different routes', ref)
    }
  }
  if (name.length === 0) return fail('Route name is empty', ref)
  const broken = exceedsJsonLimits(frame, text.length, limits)
  if (broken !== undefined) return fail(broken, ref)
  const trace = fields.traceparent === undefined ? undefined : traceContext(fields.traceparent)

  // Copy the payload fields; a "__proto__" key from JSON.parse is an own property and
  // must stay one, never become the body's prototype.
  const body: Record<string, unknown> = {}
  for (const key in fields) {
    if (key === 'route' || key === 'command' || key === 'ref' || key === 'traceparent') continue
    if (key === '__proto__') {
      Object.defineProperty(body, key, { value: fields[key], enumerable: true, writable: true, configurable: true })
    } else {
      body[key] = fields[key]
    }
  }
  return { ok: true, envelope: trace === undefined ? { name, ref, body } : { name, ref, body, trace } }
}

/** The payload's fields as JSON text without braces, prefixed with a comma; '' for none. */
function payloadFields(
  payload: object | undefined,
  reserved: readonly string[],
  codec: Codec,
): string {
  if (payload === undefined || payload === null) return ''
  let source = payload as Record<string, unknown>
  for (const key of reserved) {
    if (Object.prototype.hasOwnProperty.call(source, key)) {
      source = withoutKeys(source, reserved)
      break
    }
  }
  const text = codec.stringify(source)
  if (text === undefined || text.length <= 2 || text.charCodeAt(0) !== 123 /* { */) return ''
  return ',' + text.slice(1, -1)
}

function withoutKeys(source: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = {}
  for (const key of Object.keys(source)) {
    if (!keys.includes(key)) {
      Object.defineProperty(copy, key, { value: source[key], enumerable: true, writable: true, configurable: true })
    }
  }
  return copy
}

const REPLY_RESERVED = ['status', 'ref', 'error'] as const
const PUSH_RESERVED = ['command', 'status'] as const

function refField(ref: Ref | undefined): string {
  if (ref === undefined) return ''
  return typeof ref === 'number' ? ',"ref":' + ref : ',"ref":' + JSON.stringify(ref)
}

/**
 * Encodes a success reply: `{"status":"success","ref"?,...payload}`; the payload cannot overwrite
 * reserved fields. An `EncodedReply`'s fields are encoded once per codec and reused.
 */
export function encodeSuccess(ref: Ref | undefined, payload?: object, codec: Codec = JSON_CODEC): string {
  if (payload instanceof EncodedReply) return successHead(ref) + encodedReplyEnd(payload, codec)
  return successHead(ref) + payloadFields(payload, REPLY_RESERVED, codec) + '}'
}

/** The start of a success reply, before its payload: `{"status":"success","ref":…`. */
export function successHead(ref: Ref | undefined): string {
  return '{"status":"success"' + refField(ref)
}

/** The end of an encoded reply, after `successHead`: its fields and closing brace, encoded at its first use with `codec` and kept. */
export function encodedReplyEnd(reply: EncodedReply, codec: Codec): string {
  let end = reply.textFor(codec)
  if (end === undefined) reply.keep(codec, (end = payloadFields(reply.value, REPLY_RESERVED, codec) + '}'))
  return end
}

/** Encodes an error reply from anything thrown: a TalkError's code/message/details, or a generic INTERNAL. */
export function encodeError(ref: Ref | undefined, err: unknown, codec: Codec = JSON_CODEC): string {
  let error: string
  try {
    error = codec.stringify(toWireError(err))
  } catch {
    // details that cannot be serialised (cycles, BigInt) must not cost the client its reply
    const wire = toWireError(err)
    error = codec.stringify({ code: wire.code, message: wire.message })
  }
  return '{"status":"error"' + refField(ref) + ',"error":' + error + '}'
}

const TRACED_PUSH_RESERVED = [...PUSH_RESERVED, 'traceparent'] as const

/**
 * Encodes a push: `{"command":"node:create",...payload}`; a push never has `status`. With a
 * `traceparent` (a validated W3C value), the frame carries it and the payload cannot overwrite it.
 */
export function encodePush(name: string, payload?: object, codec: Codec = JSON_CODEC, traceparent?: string): string {
  if (traceparent !== undefined) {
    return '{"command":' + JSON.stringify(colonName(name)) + payloadFields(payload, TRACED_PUSH_RESERVED, codec) + ',"traceparent":' + JSON.stringify(traceparent) + '}'
  }
  return '{"command":' + JSON.stringify(colonName(name)) + payloadFields(payload, PUSH_RESERVED, codec) + '}'
}

/** The resume fields of a welcome, when the app keeps sessions: the token to resume with, and whether a resume asked for was granted. */
export interface WelcomeResume {
  /** The resume token the client presents next time (`talk-resume`). */
  token: string
  /** True when the session asked for was resumed, false when it could not be; absent when none was asked for. */
  resumed?: boolean | undefined
}

/**
 * Encodes the welcome push, `{"command":"welcome","client":…,"protocol":1}`, plus `resume` and
 * `resumed` when resume is on: the one place a welcome is built. Written out for JSON, since every
 * connection opens with one; through `encodePush` for another codec.
 */
export function encodeWelcome(client: string, codec: Codec = JSON_CODEC, resume?: WelcomeResume): string {
  if (codec !== JSON_CODEC) {
    const fields = resume === undefined ? {} : resume.resumed === undefined ? { resume: resume.token } : { resume: resume.token, resumed: resume.resumed }
    return encodePush('welcome', { client, protocol: PROTOCOL_VERSION, ...fields }, codec)
  }
  const head = '{"command":"welcome","client":' + JSON.stringify(client) + ',"protocol":' + PROTOCOL_VERSION
  if (resume === undefined) return head + '}'
  const token = head + ',"resume":' + JSON.stringify(resume.token)
  return resume.resumed === undefined ? token + '}' : token + ',"resumed":' + String(resume.resumed) + '}'
}

/** The built-in heartbeat route: answered by the connection itself, before any middleware (`{ seen, done }` acknowledge pushes and replies). */
export const PING_ROUTE = 'talk/ping'

/** Upgrade-URL query parameter carrying a resume token from the previous welcome. */
export const RESUME_PARAM = 'talk-resume'

/** Upgrade-URL query parameter carrying how many pushes the resuming client has received. */
export const SEEN_PARAM = 'talk-seen'

/** The `Sec-WebSocket-Protocol` entry prefix that carries a token (`bearer.<token>`); never answered with. */
export const PROTOCOL_TOKEN_PREFIX = 'bearer.'

/** The subprotocol Talk's browser client offers next to a `bearer.<token>` one, for the server to answer with. */
export const TALK_SUBPROTOCOL = 'talk'
