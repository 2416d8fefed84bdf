import type { ClientRequest, IncomingMessage } from 'node:http'
import type WebSocket from 'ws'
import type { HandshakeRefusal, SocketLike } from './socket'

/** Bytes of a refusal's body read at most: Talk's error bodies are small, and a stranger's page is not read whole. */
const MAX_BODY = 16 * 1024

/**
 * Lets a `ws` socket report why the server refused its upgrade: reads the HTTP status, `Retry-After`
 * and Talk's JSON error body into `socket.refusal`, then ends the socket (its close event follows, 1006).
 */
export function readRefusals(socket: WebSocket): void {
  socket.on('unexpected-response', (request: ClientRequest, response: IncomingMessage) => {
    const refusal: HandshakeRefusal = { status: response.statusCode ?? 0 }
    const retryAfter = Number(response.headers['retry-after'])
    if (Number.isFinite(retryAfter) && retryAfter >= 0) refusal.retryAfter = retryAfter
    const chunks: Buffer[] = []
    let size = 0
    let done = false
    const finish = (): void => {
      if (done) return
      done = true
      Object.assign(refusal, errorOf(Buffer.concat(chunks).toString('utf8')))
      ;(socket as unknown as SocketLike).refusal = refusal
      request.destroy()
      socket.terminate()
    }
    response.on('data', (chunk: Buffer) => {
      if (size < MAX_BODY) chunks.push(chunk)
      size += chunk.length
      if (size >= MAX_BODY) finish()
    })
    response.on('end', finish)
    response.on('error', finish)
    response.on('close', finish)
  })
}

/** The code and message of a body `{ "status": "error", "error": { "code", "message" } }`, or nothing. */
function errorOf(body: string): Pick<HandshakeRefusal, 'code' | 'message'> {
  try {
    const parsed: unknown = JSON.parse(body)
    const error = (parsed as { error?: unknown } | null)?.error as { code?: unknown; message?: unknown } | undefined
    if (typeof error?.code !== 'string') return {}
    return { code: error.code.slice(0, 100), ...(typeof error.message === 'string' ? { message: error.message.slice(0, 1000) } : {}) }
  } catch {
    return {}
  }
}
