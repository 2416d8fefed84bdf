import { existsSync, readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { extname, join, resolve } from 'node:path'

/** One file served from memory. */
export interface StaticFile {
  type: string
  body: string | Buffer
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
}

/**
 * The page's directory: `public/` next to this file when run from source, or the source tree's
 * `examples/documents/public` when run from `dist/examples/documents/` (tsc does not copy it).
 */
export function publicDir(): string {
  const beside = join(__dirname, 'public')
  if (existsSync(beside)) return beside
  return resolve(__dirname, '..', '..', '..', 'examples', 'documents', 'public')
}

/** Reads the page's files once, at start-up: `index.html` is also served at `/`. */
export function readPublicFiles(dir: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>()
  for (const name of ['index.html', 'app.js', 'style.css', 'favicon.svg']) {
    const type = TYPES[extname(name)] ?? 'application/octet-stream'
    files.set(`/${name}`, { type, body: readFileSync(join(dir, name)) })
  }
  const index = files.get('/index.html')
  if (index !== undefined) files.set('/', index)
  // Browsers ask for /favicon.ico whatever the page links: the same icon, not a 404.
  const icon = files.get('/favicon.svg')
  if (icon !== undefined) files.set('/favicon.ico', icon)
  return files
}

/**
 * An HTTP handler serving a fixed set of in-memory files for GET and HEAD (no path ever touches
 * the disk, so there is nothing to traverse); 404 for other paths, 405 for other methods.
 */
export function serveFiles(files: ReadonlyMap<string, StaticFile>): (req: IncomingMessage, res: ServerResponse) => void {
  return function serveFiles(req, res) {
    const path = new URL(req.url ?? '/', 'http://talk.invalid').pathname
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method not allowed\n')
      return
    }
    const file = files.get(path)
    if (file === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not found\n')
      return
    }
    res.writeHead(200, {
      'Content-Type': file.type,
      'Content-Length': Buffer.byteLength(file.body),
      'Cache-Control': 'no-cache',
      'X-Content-Type-Options': 'nosniff',
      'Content-Security-Policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:",
    })
    res.end(req.method === 'HEAD' ? undefined : file.body)
  }
}
