/**
 * The documents demo as one node on Redis with a short adapter lease, for demo-presence.test.ts
 * (bundled and forked through ./nodes.ts's TalkNode). Env: REDIS_URL, TALK_PREFIX, TALK_LEASE_MS, TALK_ROOM_CHANNELS=1.
 * Sends `{ type: 'ready', port, nodeId }` over IPC once listening.
 */
import pino from 'pino'
import { redisAdapter, redisStore } from '../../index'
import { documentsApp } from '../../examples/documents/app'
import type { Doc } from '../../examples/documents/model'

const url = process.env.REDIS_URL
const prefix = process.env.TALK_PREFIX ?? 'talk-demo:'
const store = redisStore<Doc>({ url, prefix: `${prefix}docs:` })
const adapter = redisAdapter({ url, prefix, leaseMs: Number(process.env.TALK_LEASE_MS ?? 1000), roomChannels: process.env.TALK_ROOM_CHANNELS === '1' })
const app = documentsApp({ store, adapter, logger: pino({ level: 'silent' }) })
app.listen(0, '127.0.0.1').then(
  ({ port }) => {
    process.send?.({ type: 'ready', port, nodeId: app.nodeId })
    process.once('SIGTERM', () => void Promise.all([app.close(), store.close()]).then(() => process.exit(0)))
  },
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
