import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bridge, type BridgeOptions, type TalkApp } from '../../index'
import { TestClient, type TestClientOptions } from '../../lib/testing'

/** A reply as the tests see it: status, the parsed JSON body (or the raw text) and the headers. */
export interface HttpReply {
  status: number
  body: unknown
  headers: Headers
}

/** One port serving plain HTTP (through `handler`) and the app's WebSocket, with helpers for both. */
export class HttpTestServer {
  private readonly sockets = new Set<TestClient>()

  constructor(
    readonly app: TalkApp,
    readonly server: Server,
    readonly port: number,
  ) {}

  /** `http://127.0.0.1:<port>` */
  get base(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** Connects a WebSocket test client to the same port. */
  async client(options?: TestClientOptions): Promise<TestClient> {
    const client = await TestClient.connect(`ws://127.0.0.1:${this.port}`, options)
    this.sockets.add(client)
    return client
  }

  /** Sends one HTTP request; a `json` value is sent as an application/json body. */
  async fetch(method: string, path: string, init: { json?: unknown; body?: BodyInit; headers?: Record<string, string> } = {}): Promise<HttpReply> {
    const headers: Record<string, string> = { ...init.headers }
    let body = init.body
    if (init.json !== undefined) {
      body = JSON.stringify(init.json)
      headers['content-type'] ??= 'application/json'
    }
    const res = await fetch(this.base + path, { method, headers, body, duplex: 'half' } as RequestInit)
    const text = await res.text()
    let parsed: unknown = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // not JSON: keep the text (Express's own 404 page, say)
    }
    return { status: res.status, body: parsed, headers: res.headers }
  }

  /** Closes the sockets, the app and the HTTP server. */
  async close(): Promise<void> {
    await Promise.all([...this.sockets].map((c) => c.close()))
    await this.app.close()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Serves `listener` (default: the bridge for `options`) and the app's sockets on one free loopback port. */
export async function httpTestServer(app: TalkApp, options: BridgeOptions | RequestListener): Promise<HttpTestServer> {
  const listener = typeof options === 'function' ? options : bridge(app, options)
  const server = createServer(listener)
  app.attach(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return new HttpTestServer(app, server, (server.address() as AddressInfo).port)
}
