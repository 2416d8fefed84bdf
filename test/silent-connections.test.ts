import { createServer, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { SilentConnections } from '../lib/security/silent-connections'

// listen()'s guard against TCP connections that never make a request, on a real HTTP server.
describe('silent connections', () => {
  let server: Server
  let silent: SilentConnections
  let port: number

  beforeEach(async () => {
    server = createServer((_req, res) => res.end('ok'))
    silent = new SilentConnections(server, 200)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterEach(async () => {
    silent.stop()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const open = (): Promise<Socket> =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket))
    })
  // Read and dropped: a socket nobody reads never sees the end of what the server sent, nor its close.
  const closed = (socket: Socket): Promise<void> => new Promise((resolve) => socket.once('close', () => resolve()).resume())
  const until = async (check: () => boolean): Promise<void> => {
    while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  it('cuts a connection that sends nothing after the timeout, and forgets it', async () => {
    const socket = await open()
    const started = performance.now()
    await closed(socket)
    expect(performance.now() - started).toBeGreaterThanOrEqual(150)
    expect(silent.size).toBe(0)
  })

  it('forgets at once a connection closed before its request (a connect-and-close flood holds nothing)', async () => {
    // A long timeout: the next sweep is 2.5 s away, so only the close itself can empty the watch list.
    silent.stop()
    silent = new SilentConnections(server, 10_000)
    const sockets = await Promise.all(Array.from({ length: 50 }, open))
    await until(() => silent.size === 50)
    const started = performance.now()
    for (const socket of sockets) socket.destroy()
    await until(() => silent.size === 0 || performance.now() - started > 1000)
    expect(silent.size).toBe(0)
  })

  it('leaves a connection alone once it made a request', async () => {
    const socket = await open()
    const answered = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString())))
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
    expect(await answered).toMatch(/^HTTP\/1\.1 200/)
    await until(() => silent.size === 0)
    // Several sweeps pass; the keep-alive connection is still open (Node's own keep-alive timeout is 5 s).
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(socket.destroyed).toBe(false)
    socket.destroy()
  })

  it('stops sweeping and listening when stopped', async () => {
    silent.stop()
    expect(server.listenerCount('connection')).toBe(1) // Node's own
    const socket = await open()
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(socket.destroyed).toBe(false)
    expect(silent.size).toBe(0)
    socket.destroy()
  })
})
