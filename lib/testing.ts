import WebSocket from 'ws'
import type { TalkApp } from './app'
import { connect, type NodeClientOptions, type TalkClient } from './client'
import type { RouteMap } from './types'

/** A frame as JSON: a reply, a push or the welcome. */
export type Frame = Record<string, unknown>

/** Options for a test client's connection. */
export interface TestClientOptions {
  /** Extra headers for the upgrade request (Authorization, Cookie, Origin…). */
  headers?: Record<string, string>
  /** Query string appended to the URL, without `?`. */
  query?: string
  /** WebSocket subprotocols to offer. */
  protocols?: string[]
  /** How long to wait for a reply or push before failing, in ms (default 5000). */
  timeout?: number
}

/** Why a connection closed. */
export interface Closed {
  code: number
  reason: string
}

/**
 * A small client for tests: `request()` resolves with the whole reply frame, `nextPush()` waits for
 * a push, `sendRaw()` sends any bytes. Replies are matched by ref, or by order for ref-less frames.
 */
export class TestClient {
  /** The welcome frame the server sent first. */
  welcome: Frame = {}
  /** Resolves when the socket closes. */
  readonly closed: Promise<Closed>

  private nextRef = 1
  private readonly pending = new Map<string | number, (frame: Frame) => void>()
  private readonly replies: Frame[] = []
  private readonly replyWaiters: ((frame: Frame) => void)[] = []
  private readonly pushes: Frame[] = []
  private readonly pushWaiters: ((frame: Frame) => void)[] = []
  private readonly timeout: number

  private constructor(readonly socket: WebSocket, timeout: number) {
    this.timeout = timeout
    this.closed = new Promise((resolve) => socket.once('close', (code, reason) => resolve({ code, reason: reason.toString() })))
    socket.on('message', (data) => this.received(JSON.parse(data.toString()) as Frame))
  }

  /** Connects and waits for the welcome frame. */
  static async connect(url: string, options: TestClientOptions = {}): Promise<TestClient> {
    const target = withQuery(url, options.query)
    const socket = new WebSocket(target, options.protocols, { headers: options.headers })
    const client = new TestClient(socket, options.timeout ?? 5000)
    const welcome = client.nextPush()
    // When the upgrade is refused the welcome never comes: its timeout must not surface as an unhandled rejection.
    welcome.catch(() => undefined)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
      socket.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)))
    })
    client.welcome = await welcome
    return client
  }

  /** The client id the server gave in its welcome. */
  get id(): string {
    return String(this.welcome.client)
  }

  /** Sends `{ command: name, ref, ...payload }` and resolves with the whole reply frame. */
  request(name: string, payload: Frame = {}, options: { ref?: string | number; field?: 'command' | 'route' } = {}): Promise<Frame> {
    const ref = options.ref ?? this.nextRef++
    const frame = { [options.field ?? 'command']: name, ref, ...payload }
    const reply = this.waitFor(this.pending, ref)
    this.socket.send(JSON.stringify(frame))
    return reply
  }

  /** Sends a frame (any JSON value) and resolves with the next reply that carries no matched ref. */
  send(frame: unknown): Promise<Frame> {
    const reply = this.nextReply()
    this.socket.send(JSON.stringify(frame))
    return reply
  }

  /** Sends raw bytes: a string as a text frame, a Buffer as a binary frame unless `binary: false`. */
  sendRaw(data: string | Buffer, options: { binary?: boolean } = {}): void {
    this.socket.send(data, { binary: options.binary ?? typeof data !== 'string' })
  }

  /** The next reply (a frame with `status`) not claimed by a `request()` ref. */
  nextReply(): Promise<Frame> {
    return this.take(this.replies, this.replyWaiters, 'reply')
  }

  /** The next push (a frame without `status`). */
  nextPush(): Promise<Frame> {
    return this.take(this.pushes, this.pushWaiters, 'push')
  }

  /** Pushes received and not yet taken by `nextPush()`. */
  get pendingPushes(): readonly Frame[] {
    return this.pushes
  }

  /** Closes the connection and waits for it to be closed (cut off after a second if the server never answers). */
  async close(code = 1000): Promise<Closed> {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CONNECTING) {
      this.socket.close(code)
      const cutOff = setTimeout(() => this.socket.terminate(), 1000)
      void this.closed.then(() => clearTimeout(cutOff))
    }
    return this.closed
  }

  private received(frame: Frame): void {
    if (!('status' in frame)) {
      const waiter = this.pushWaiters.shift()
      if (waiter !== undefined) waiter(frame)
      else this.pushes.push(frame)
      return
    }
    const ref = frame.ref as string | number | undefined
    const pending = ref === undefined ? undefined : this.pending.get(ref)
    if (pending !== undefined && ref !== undefined) {
      this.pending.delete(ref)
      pending(frame)
      return
    }
    const waiter = this.replyWaiters.shift()
    if (waiter !== undefined) waiter(frame)
    else this.replies.push(frame)
  }

  private waitFor(map: Map<string | number, (frame: Frame) => void>, ref: string | number): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        map.delete(ref)
        reject(new Error(`No reply for ref ${String(ref)} within ${this.timeout} ms`))
      }, this.timeout).unref()
      map.set(ref, (frame) => {
        clearTimeout(timer)
        resolve(frame)
      })
    })
  }

  private take(queue: Frame[], waiters: ((frame: Frame) => void)[], what: string): Promise<Frame> {
    const ready = queue.shift()
    if (ready !== undefined) return Promise.resolve(ready)
    return new Promise((resolve, reject) => {
      const waiter = (frame: Frame): void => {
        clearTimeout(timer)
        resolve(frame)
      }
      const timer = setTimeout(() => {
        const i = waiters.indexOf(waiter)
        if (i >= 0) waiters.splice(i, 1)
        reject(new Error(`No ${what} within ${this.timeout} ms`))
      }, this.timeout).unref()
      waiters.push(waiter)
    })
  }
}

/** An app listening on a free port, with connected test clients that it closes along with the app. */
export class TestServer {
  private readonly open = new Set<TestClient>()
  private readonly talkClients = new Set<TalkClient<RouteMap>>()

  constructor(
    readonly app: TalkApp,
    readonly url: string,
    readonly port: number,
  ) {}

  /** Connects one test client. */
  async client(options?: TestClientOptions): Promise<TestClient> {
    const client = await TestClient.connect(this.url, options)
    this.open.add(client)
    return client
  }

  /** Connects `n` test clients. */
  async clients(n: number, options?: TestClientOptions): Promise<TestClient[]> {
    const out: TestClient[] = []
    for (let i = 0; i < n; i++) out.push(await this.client(options))
    return out
  }

  /**
   * Connects the real TalkClient (typed by the app's route map, heartbeat off unless asked) and
   * closes it with the server: `const c = await server.talkClient<typeof routes>({ query: 'user=a' })`.
   */
  async talkClient<R extends RouteMap = RouteMap>(options: NodeClientOptions & { query?: string } = {}): Promise<TalkClient<R>> {
    const { query, ...rest } = options
    const client = await connect<R>(withQuery(this.url, query), { heartbeat: false, ...rest })
    this.talkClients.add(client as unknown as TalkClient<RouteMap>)
    return client
  }

  /** Closes every client, then the app. */
  async close(): Promise<void> {
    await Promise.all([...this.talkClients].map((c) => c.close()))
    await Promise.all([...this.open].map((c) => c.close()))
    await this.app.close()
  }
}

/**
 * Starts an app on a free loopback port for tests.
 *
 * @example
 * const server = await testServer(app)
 * const [a, b] = await server.clients(2)
 * expect(await a.request('document/get', { id: 'x' })).toEqual({ status: 'error', ref: 1, error: expect.any(Object) })
 */
export async function testServer(app: TalkApp): Promise<TestServer> {
  const { port, url } = await app.listen(0, '127.0.0.1')
  return new TestServer(app, url, port)
}

/** A URL with a query string appended (after `&` when it has one already). */
function withQuery(url: string, query: string | undefined): string {
  return query === undefined ? url : `${url}${url.includes('?') ? '&' : '?'}${query}`
}
