import type { RawData } from 'ws'
import { isRecord } from './control'

/** A decoded Talk v1 request, as the hand-written targets see it. */
export interface RawRequest {
  name: string
  ref: string | number | undefined
  body: Record<string, unknown>
}

/** A request that could not be decoded: the error reply to send. */
export interface RawBadRequest {
  ref: string | number | undefined
  error: string
}

/** Decodes one frame by hand: JSON, an object, a name, a valid ref; the rest is the body. */
export function decodeRequest(data: RawData, isBinary: boolean): RawRequest | RawBadRequest {
  if (isBinary) return { ref: undefined, error: 'Binary frames are not accepted' }
  let message: unknown
  try {
    message = JSON.parse(data.toString())
  } catch {
    return { ref: undefined, error: 'The frame is not JSON' }
  }
  if (!isRecord(message)) return { ref: undefined, error: 'The frame is not a JSON object' }
  const { command, route, ref, ...body } = message
  if (ref !== undefined && !(typeof ref === 'string' && ref.length <= 64) && !Number.isSafeInteger(ref)) {
    return { ref: undefined, error: 'Bad ref' }
  }
  const okRef = ref as string | number | undefined
  const name = typeof command === 'string' ? command : typeof route === 'string' ? route.replaceAll('/', ':') : undefined
  if (name === undefined) return { ref: okRef, error: 'No route' }
  return { name, ref: okRef, body }
}

/** `{ "status": "success", ref, ...payload }` as a frame. */
export function encodeSuccess(ref: string | number | undefined, payload: object): string {
  return JSON.stringify({ status: 'success', ref, ...payload })
}

/** `{ "status": "error", ref, "error": { code, message, details } }` as a frame. */
export function encodeError(ref: string | number | undefined, code: string, message: string, details?: unknown): string {
  return JSON.stringify({ status: 'error', ref, error: { code, message, details } })
}

/** `{ "command": name, ...payload }` as a frame. */
export function encodePush(name: string, payload: object): string {
  return JSON.stringify({ command: name, ...payload })
}

/** The welcome frame every connection gets first. */
export function encodeWelcome(client: string): string {
  return JSON.stringify({ command: 'welcome', client, protocol: 1 })
}
