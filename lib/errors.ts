/** Stable error codes and the HTTP status each maps to (used by the REST bridge). */
export const STATUS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  VALIDATION_FAILED: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const

/** One of Talk's own error codes. Apps may use their own strings too. */
export type ErrorCode = keyof typeof STATUS

/**
 * WebSocket close codes Talk uses, sends or reads (server and client share this table; the module
 * imports nothing, so the browser bundle carries it). 4000–4899 are free for apps; Talk keeps 4900–4999.
 */
export const CLOSE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  /** The peer broke the WebSocket protocol (sent by the WebSocket layer). */
  PROTOCOL_ERROR: 1002,
  /** The peer sent a kind of data the endpoint does not accept (sent by the WebSocket layer). */
  UNSUPPORTED_DATA: 1003,
  /** No close frame came: the connection dropped. Never sent, only reported. */
  ABNORMAL: 1006,
  /** A frame's data was invalid, e.g. text that is not UTF-8 (sent by the WebSocket layer). */
  INVALID_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  /** The client needed an extension the server did not agree to (sent by the WebSocket layer). */
  MISSING_EXTENSION: 1010,
  INTERNAL: 1011,
  SERVICE_RESTART: 1012,
  /** The client stopped reading and its unsent data passed the bound. */
  SLOW_CONSUMER: 4900,
  /**
   * Sent by the Talk client when it closes a socket it means to resume (its heartbeat heard
   * nothing, or no welcome came in time): the server parks the session as for a dropped
   * connection (1006), where any other close frame from a client ends it at once.
   */
  WILL_RESUME: 4901,
} as const

/** The close codes apps may use for their own meanings, inclusive: 4000–4899 (Talk keeps 4900–4999). */
export const APP_CLOSE_CODES = { first: 4000, last: 4899 } as const

/** Whether a close code is one of the codes apps may choose (4000–4899). */
export function isAppCloseCode(code: number): boolean {
  return code >= APP_CLOSE_CODES.first && code <= APP_CLOSE_CODES.last
}

/**
 * An error meant for the client: its code and message go on the wire.
 * Anything thrown that is not a TalkError is answered as `INTERNAL` with a generic message.
 *
 * @example throw new TalkError('NOT_FOUND', `No document ${id}`)
 */
export class TalkError extends Error {
  override readonly name = 'TalkError'
  constructor(
    readonly code: ErrorCode | (string & {}),
    message: string,
    readonly details?: unknown,
  ) {
    super(message)
  }

  /** The HTTP status of this error's code (500 for a code not in the table). */
  get status(): number {
    return httpStatus(this.code)
  }
}

/** The HTTP status for an error code: the table's entry, or 500 for a code it does not know. */
export function httpStatus(code: string): number {
  return Object.prototype.hasOwnProperty.call(STATUS, code) ? STATUS[code as ErrorCode] : 500
}

/** The error object sent on the wire inside an error reply. */
export interface WireError {
  code: string
  message: string
  details?: unknown
}

/** The wire code of anything thrown: a TalkError's own code, INTERNAL for everything else. */
export function codeOf(err: unknown): string {
  return err instanceof TalkError ? err.code : 'INTERNAL'
}

/** Turns anything thrown into what the client may see: a TalkError's fields, or a generic INTERNAL. */
export function toWireError(err: unknown): WireError {
  if (err instanceof TalkError) {
    return err.details === undefined
      ? { code: err.code, message: err.message }
      : { code: err.code, message: err.message, details: err.details }
  }
  return { code: 'INTERNAL', message: 'Internal server error' }
}
