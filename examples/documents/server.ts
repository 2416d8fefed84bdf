import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bridge, redisAdapter, redisStore, resource, type TalkApp } from 'talk'
import { readBrowserBundle } from 'talk/client'
import { documentsApp, type DocumentsOptions } from './app'
import type { Doc } from './model'
import { publicDir, readPublicFiles, serveFiles } from './static-files'

/** Options of `startServer()`. */
export interface ServerOptions extends DocumentsOptions {
  /** TCP port; 0 picks a free one (default 3000). */
  port?: number
  /** Interface to bind (default: every interface). */
  host?: string
  /** Makes the browser client's ES module, served at `/talk-client.js` (default: `readBrowserBundle()`, the package's prebuilt file, once at start-up). */
  clientBundle?: () => Promise<string>
}

/** A running demo: the page and the Talk endpoint on one HTTP server. */
export interface DemoServer {
  app: TalkApp
  server: Server
  port: number
  /** The page's http:// URL; the WebSocket endpoint is the same address with ws://. */
  url: string
  /** Closes gracefully: Talk drains its requests and closes sockets with 1001, then the HTTP server and the store close. */
  close(): Promise<void>
}

/**
 * Starts the documents demo: serves the page over HTTP and Talk over WebSocket on the same port
 * (any upgrade path, so `ws://localhost:3000` works).
 *
 * @example
 * const demo = await startServer({ port: 0 })
 * console.log(demo.url)
 * await demo.close()
 */
export async function startServer(options: ServerOptions = {}): Promise<DemoServer> {
  const files = readPublicFiles(publicDir())
  files.set('/talk-client.js', { type: 'text/javascript; charset=utf-8', body: await (options.clientBundle ?? readBrowserBundle)() })
  const app = documentsApp(options)
  // The documents over REST too (docs/migrating-from-rest.md): `GET /documents/:id` answers what
  // `document:get` does, `POST /documents/:id` is `document:update`; other paths are the page's.
  const rest = bridge(app, { routes: resource('/documents', 'document') })
  const page = serveFiles(files)
  const server = createServer((req, res) => rest(req, res, () => page(req, res)))
  // Before listen(): attach() gives the server its header timeout and how often Node checks it
  // (read when listening starts), so slowloris and silent sockets get 408 after handshakeTimeout.
  app.attach(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 3000, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined
  return {
    app,
    server,
    port,
    url: `http://localhost:${port}`,
    close() {
      return (closing ??= (async () => {
        await app.close()
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        server.closeAllConnections()
        await closed
        await options.store?.close()
      })())
    },
  }
}

/** `npm start`: the demo on PORT (default 3000) and HOST (default: every interface) until SIGTERM or SIGINT. */
async function main(): Promise<void> {
  const port = process.env.PORT === undefined ? 3000 : Number(process.env.PORT)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`PORT must be a port number, not "${process.env.PORT}"`)
  // REDIS_URL makes this one node of many: documents in Redis, pushes and presence through it (docs/scaling.md).
  const redisUrl = process.env.REDIS_URL
  const shared = redisUrl === undefined || redisUrl === ''
    ? {}
    : { store: redisStore<Doc>({ url: redisUrl, prefix: 'talk-demo:docs:' }), adapter: redisAdapter({ url: redisUrl, prefix: 'talk-demo:' }) }
  const host = process.env.HOST === undefined || process.env.HOST === '' ? undefined : process.env.HOST
  const demo = await startServer({ port, host, ...shared })
  console.log(`Talk documents demo on ${demo.url}${redisUrl ? ` with Redis at ${redisUrl}` : ''} (open it in two windows)`)
  const stop = (signal: string): void => {
    demo.app.log.info({ signal }, 'shutting down')
    demo.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err)
        process.exit(1)
      },
    )
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err)
    process.exit(1)
  })
}
