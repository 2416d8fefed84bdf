import pino from 'pino'
import { TestClient, type Frame } from 'talk/testing'
import { startServer, type DemoServer, type ServerOptions } from '../../examples/documents/server'
import { buildBrowserBundle } from '../../lib/client/build'

// The browser client is built once per test file, from source (the package ships a prebuilt one: readBrowserBundle()).
let bundle: Promise<string> | undefined
const clientBundle = (): Promise<string> => (bundle ??= buildBrowserBundle())

/** The documents demo on a free loopback port, with raw test clients it closes along with itself. */
export class Demo {
  private readonly open = new Set<TestClient>()

  private constructor(readonly server: DemoServer) {}

  /** Starts the demo quietly on 127.0.0.1, port 0. */
  static async start(options: ServerOptions = {}): Promise<Demo> {
    return new Demo(await startServer({ port: 0, host: '127.0.0.1', logger: pino({ level: 'silent' }), clientBundle, ...options }))
  }

  /** The WebSocket URL. */
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.server.port}`
  }

  /** The page's URL. */
  get httpUrl(): string {
    return `http://127.0.0.1:${this.server.port}`
  }

  /** Connects a test client named `user` (no `user` parameter when undefined). */
  async client(user: string | undefined): Promise<TestClient> {
    const client = await TestClient.connect(this.wsUrl, user === undefined ? {} : { query: `user=${encodeURIComponent(user)}` })
    this.open.add(client)
    return client
  }

  /** Closes the clients, then the demo. */
  async close(): Promise<void> {
    await Promise.all([...this.open].map((c) => c.close()))
    await this.server.close()
  }
}

/** Records every frame a client receives, replies and pushes alike, in arrival order. */
export function record(client: TestClient): Frame[] {
  const frames: Frame[] = []
  client.socket.on('message', (data) => frames.push(JSON.parse(data.toString()) as Frame))
  return frames
}
