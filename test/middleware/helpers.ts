import { request } from 'node:http'
import pino, { type Logger } from 'pino'

/** A pino logger writing into memory, for asserting what was (and was not) logged. */
export interface CapturedLog {
  logger: Logger
  /** Parsed lines, in order. */
  readonly lines: Record<string, unknown>[]
  /** Everything written, raw. */
  text(): string
}

/** A debug-level pino logger whose lines are kept in memory. */
export function captureLog(level: pino.Level = 'debug'): CapturedLog {
  const raw: string[] = []
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level }, {
    write(chunk: string) {
      raw.push(chunk)
      lines.push(JSON.parse(chunk) as Record<string, unknown>)
    },
  })
  return { logger, lines, text: () => raw.join('') }
}

/** What the server answered to an upgrade request: its HTTP status and body, or that it upgraded. */
export interface UpgradeAnswer {
  status: number
  body: unknown
  upgraded: boolean
}

/** Sends a raw upgrade request and resolves with the status and (JSON) body the server answered with. */
export function upgrade(port: number, path = '/', headers: Record<string, string> = {}): Promise<UpgradeAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      port,
      host: '127.0.0.1',
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers },
    })
    req.on('upgrade', (res, socket) => {
      socket.destroy()
      resolve({ status: res.statusCode ?? 0, body: undefined, upgraded: true })
    })
    req.on('response', (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: body === '' ? undefined : (JSON.parse(body) as unknown), upgraded: false }))
    })
    req.on('error', reject)
    req.end()
  })
}
