import { createServer, type Server } from 'node:http'
import type { Browser, Page } from 'playwright-core'
import { auth, type TalkApp } from '../../index'
import { buildBrowserBundle } from '../../lib/client/build'
import type * as BrowserClient from '../../lib/client/browser'
import type { Connection } from '../../lib/connection'
import { launchBrowser } from '../helpers/browser'
import { seedApp } from '../helpers/seed-app'

jest.setTimeout(60_000)

/** What the page keeps on `window` for the test to drive and read. */
interface PageGlobals {
  Talk: typeof BrowserClient
  talkReady: boolean
  clients: Record<string, BrowserClient.TalkClient>
  heard: unknown[]
}

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>Talk client</title>
<script type="module">
  import * as Talk from '/talk-client.js'
  Object.assign(window, { Talk, clients: {}, heard: [], talkReady: true })
</script>`

describe('TalkClient in a real browser', () => {
  let browser: Browser | undefined
  let bundle: string
  let app: TalkApp
  let http: Server
  let origin: string
  let page: Page

  beforeAll(async () => {
    browser = await launchBrowser()
    bundle = await buildBrowserBundle()
  })
  afterAll(async () => {
    await browser?.close()
  })
  beforeEach(async () => {
    app = seedApp({ resume: true, closeTimeout: 100 })
    http = createServer((req, res) => {
      if (req.url === '/talk-client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
      else if (req.url === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
      else res.writeHead(404).end()
    })
    app.attach(http)
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', () => resolve()))
    const address = http.address()
    origin = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`
  })
  afterEach(async () => {
    await page?.close()
    await app.close()
    await new Promise<void>((resolve) => {
      http.close(() => resolve())
      http.closeAllConnections()
    })
  })

  it('runs the seed conversation from a page, and resumes after a forced disconnect with the missed push', async () => {
    if (browser === undefined) return // no chromium: reason printed by launchBrowser
    page = await browser.newPage()
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => (window as unknown as PageGlobals).talkReady === true)

    const seed = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals
      const options = { heartbeat: { interval: 1000, timeout: 2000 }, reconnect: { initialDelay: 10, maxDelay: 50 } }
      // Relative URLs: the bundle turns them into ws:// URLs of the page's server.
      const client1 = await w.Talk.connect('/?user=client1', options)
      const client2 = await w.Talk.connect('/?user=client2', options)
      w.clients = { client1, client2 }
      client2.on('node:create', (payload) => w.heard.push(['push', payload]))
      client2.on('reconnected', (info) => w.heard.push(['reconnected', info]))
      const created = await client1.request('document:create', { id: 'hello-world' })
      const got = await client2.request('document:get', { id: 'hello-world' })
      const node = await client1.request('node:create', { type: '/type/task', data: { name: 'A new task' } })
      return { created, got, node, ids: [client1.id, client2.id] }
    })
    const task = { id: 1, type: '/type/task', data: { name: 'A new task' } }
    expect(seed).toEqual({
      created: {},
      got: { document: { id: 'hello-world', nodes: [] }, 'active-users': ['client1', 'client2'] },
      node: { node: task },
      ids: [expect.any(String), expect.any(String)],
    })
    await page.waitForFunction(() => (window as unknown as PageGlobals).heard.length === 1)

    // Force a disconnect on the server side (like a network drop), then push while client2 is away.
    const [, client2Id] = seed.ids as [string, string]
    const connection = app.clients.get(client2Id) as Connection
    const closed = new Promise((resolve) => connection.socket.once('close', resolve))
    connection.socket.terminate()
    await closed
    const second = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals
      return w.clients.client1?.request('node:create', { type: '/type/task', data: { name: 'While away' } })
    })
    const away = { id: 2, type: '/type/task', data: { name: 'While away' } }
    expect(second).toEqual({ node: away })

    await page.waitForFunction(() => (window as unknown as PageGlobals).heard.length === 3)
    const heard = await page.evaluate(() => (window as unknown as PageGlobals).heard)
    expect(heard).toEqual([['push', task], ['reconnected', { client: client2Id, resumed: true }], ['push', away]])
    const after = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals
      return { id: w.clients.client2?.id, got: await w.clients.client2?.request('document:get', { id: 'hello-world' }) }
    })
    expect(after).toEqual({ id: client2Id, got: { document: { id: 'hello-world', nodes: [task, away] }, 'active-users': ['client1', 'client2'] } })
    expect(errors).toEqual([])
  })

  it('sends a token as a bearer subprotocol next to talk, and the server answers talk, never the token', async () => {
    if (browser === undefined) return // no chromium: reason printed by launchBrowser
    app.use(auth({ from: 'protocol', verify: (token) => (token === 'browser-secret' ? { user: { id: 'carol' } } : undefined) }))
    app.route('whoami', (ctx) => ({ user: ctx.client.user }))
    const answered: (string | undefined)[] = []
    app.on('connection', (connection) => answered.push((connection as unknown as Connection).socket.protocol))
    page = await browser.newPage()
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => (window as unknown as PageGlobals).talkReady === true)
    const result = await page.evaluate(async () => {
      const w = window as unknown as PageGlobals
      let asked = 0
      const client = await w.Talk.connect('/', { token: () => (++asked, 'browser-secret'), reconnect: false, heartbeat: false })
      const reply = await client.request('whoami')
      client.close()
      const refused = await w.Talk.connect('/', { token: 'wrong', reconnect: false, heartbeat: false }).then(() => 'accepted', (err: Error) => err.name)
      return { reply, asked, refused }
    })
    expect(result).toEqual({ reply: { user: { id: 'carol' } }, asked: 1, refused: 'TalkError' })
    expect(answered).toEqual(['talk'])
  })
})
