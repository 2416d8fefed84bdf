import type { IncomingMessage } from 'node:http'
import { TalkError } from '../errors'
import type { Codec } from '../protocol'
import { exceedsJsonLimits, type JsonLimits } from '../security/json-bounds'

/** A JSON media type: `application/json` or a `+json` suffix such as `application/merge-patch+json`. */
const JSON_TYPE = /^application\/(?:[\w.+-]*\+)?json$/

/** Whether the request says it carries a body (a non-zero Content-Length, or chunked). */
function hasBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true
  const length = req.headers['content-length']
  return length !== undefined && length !== '0'
}

/**
 * Reads a request's JSON body, at most `limit` bytes. Resolves with the object, or undefined when
 * the request has no body. Rejects with a TalkError: `PAYLOAD_TOO_LARGE` past the limit (told by
 * Content-Length before reading, or counted while reading); `BAD_REQUEST` for a body that is not
 * JSON, not valid UTF-8, not an object, nested deeper or holding more elements than `bounds` allow,
 * compressed, or sent with a Content-Type other than JSON
 * (on a method other than GET and HEAD, even an empty body with a form's Content-Type is refused).
 * A body an earlier Express parser left in `req.body` is used as it is.
 */
export async function readJsonBody(
  req: IncomingMessage,
  limit: number,
  codec: Codec,
  bounds: JsonLimits,
): Promise<Record<string, unknown> | undefined> {
  const header = req.headers['content-type']
  const json = JSON_TYPE.test(header?.split(';')[0]?.trim().toLowerCase() ?? '')
  // A form (urlencoded, multipart, text/plain) is what another site can make a browser send with
  // its cookies and without asking (CSRF): refused even when empty, on every method that writes,
  // and even when an earlier parser (express.urlencoded) already read it.
  const writes = req.method !== 'GET' && req.method !== 'HEAD'
  if (header !== undefined && writes && !json) throw notJson()
  const parsed = (req as { body?: unknown }).body
  // The text's length is unknown here: walk it whatever its size.
  if (parsed !== undefined) return bounded(asObject(parsed), Number.MAX_SAFE_INTEGER, bounds)
  if (!hasBody(req)) return undefined
  if (!json) throw notJson()
  const encoding = req.headers['content-encoding']
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    throw new TalkError('BAD_REQUEST', `Content-Encoding "${encoding.slice(0, 40)}" is not supported`)
  }
  const declared = Number(req.headers['content-length'])
  if (declared > limit) throw tooLarge(limit)

  const bytes = await collect(req, limit)
  if (bytes.length === 0) return undefined
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new TalkError('BAD_REQUEST', 'Body is not valid UTF-8')
  }
  let value: unknown
  try {
    value = codec.parse(text)
  } catch {
    throw new TalkError('BAD_REQUEST', 'Body is not valid JSON')
  }
  return bounded(asObject(value), text.length, bounds)
}

/** The socket's bounds on nesting and size (app.jsonLimits) hold for HTTP bodies too: BAD_REQUEST past them. */
function bounded(value: Record<string, unknown>, textLength: number, bounds: JsonLimits): Record<string, unknown> {
  const broken = exceedsJsonLimits(value, textLength, bounds, 'Body')
  if (broken !== undefined) throw new TalkError('BAD_REQUEST', broken)
  return value
}

function notJson(): TalkError {
  return new TalkError('BAD_REQUEST', 'Content-Type must be application/json')
}

function asObject(value: unknown): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new TalkError('BAD_REQUEST', 'Body must be a JSON object')
  }
  return value as Record<string, unknown>
}

function tooLarge(limit: number): TalkError {
  return new TalkError('PAYLOAD_TOO_LARGE', `Body is larger than ${limit} bytes`)
}

/** Reads the stream into one buffer, rejecting as soon as it passes `limit` bytes. */
function collect(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const cleanup = (): void => {
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('close', onClose)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > limit) {
        cleanup()
        // Keep draining (and dropping) the rest so the 413 can still be read by the client.
        req.resume()
        reject(tooLarge(limit))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      cleanup()
      resolve(Buffer.concat(chunks, size))
    }
    const onError = (err: Error): void => {
      cleanup()
      reject(err)
    }
    const onClose = (): void => {
      cleanup()
      if (!req.complete) reject(new Error('request aborted'))
    }
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('close', onClose)
  })
}
