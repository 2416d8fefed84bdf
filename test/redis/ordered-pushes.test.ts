import Redis from 'ioredis'
import { TestClient } from '../../lib/testing'
import { describeRedis, RedisServer } from '../helpers/redis-server'
import { buildNodeScript, removeNodeScript, TalkNode } from './nodes'

const WRITERS_PER_NODE = 2
const CHANGES_PER_WRITER = 30

describeRedis('the documents demo on three nodes with writers on each', (source) => {
  let redis: RedisServer | undefined
  let script: string
  const running: TalkNode[] = []
  const clients: TestClient[] = []

  const connect = async (node: TalkNode): Promise<TestClient> => {
    const client = await TestClient.connect(node.url, { timeout: 10_000 })
    clients.push(client)
    return client
  }

  /** The versions a client hears, in the order its frames arrive: its own replies' and others' pushes alike. */
  const heard = (client: TestClient): number[] => {
    const versions: number[] = []
    client.socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString()) as { command?: unknown; status?: unknown; version?: unknown }
      const change = frame.command === 'node:create' || (frame.status === 'success' && typeof frame.version === 'number')
      if (change && typeof frame.version === 'number') versions.push(frame.version)
    })
    return versions
  }

  beforeAll(async () => {
    script = buildNodeScript('demo-lease-node.ts')
    if (source.kind === 'binary') redis = await RedisServer.start(source.binary)
  })

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()))
    await Promise.all(running.splice(0).map((n) => n.stop()))
  })

  afterAll(async () => {
    await redis?.close()
    removeNodeScript(script)
  })

  /** Three nodes, writers and an observer on each; the adapters with room channels or not. */
  const run = async (roomChannels: boolean): Promise<void> => {
    const settings = {
      redisUrl: redis?.url ?? (source.kind === 'url' ? source.url : ''),
      prefix: `talk-order-${process.pid}-${Date.now()}:`,
      leaseMs: 2000,
      roomChannels,
    }
    const nodes = await Promise.all([0, 1, 2].map(() => TalkNode.start(script, settings)))
    running.push(...nodes)
    const owner = await connect(nodes[0] as TalkNode)
    expect(await owner.request('document/create', { id: 'order' })).toEqual({ status: 'success', ref: 1 })
    const observers = await Promise.all(nodes.map(connect))
    const writers = await Promise.all(nodes.flatMap((node) => Array.from({ length: WRITERS_PER_NODE }, () => connect(node))))
    const seen = new Map<TestClient, number[]>()
    for (const x of [...observers, ...writers]) {
      expect(await x.request('document/get', { id: 'order' })).toMatchObject({ status: 'success', document: { version: 1 } })
      seen.set(x, heard(x))
    }

    await Promise.all(writers.map(async (writer, w) => {
      for (let i = 0; i < CHANGES_PER_WRITER; i++) {
        expect(await writer.request('node/create', { type: 'task', data: { w, i } })).toMatchObject({ status: 'success' })
      }
    }))
    const last = 1 + writers.length * CHANGES_PER_WRITER
    const all = Array.from({ length: last - 1 }, (_, k) => k + 2)
    // The last pushes may still be on their way (a missing one shows as a short list below).
    await Promise.all([...observers, ...writers].map(async (x) => {
      while ((seen.get(x) as number[]).length < all.length && await x.nextPush().then(() => true, () => false));
    }))
    for (const x of [...observers, ...writers]) expect(seen.get(x)).toEqual(all)
    if (roomChannels) {
      // The pushes travelled on the document's own channel, which each of the three nodes subscribed.
      const raw = new Redis(settings.redisUrl)
      try {
        expect(await raw.call('PUBSUB', 'NUMSUB', `${settings.prefix}push:document/order`)).toEqual([`${settings.prefix}push:document/order`, 3])
      } finally {
        raw.disconnect()
      }
    }
  }

  it('gives every observer and every writer each version once, in order, with no gap', () => run(false), 30_000)

  it('does the same with a channel per room', () => run(true), 30_000)
})
