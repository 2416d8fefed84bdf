/**
 * The documents demo app as one node on Redis, for the launcher test (bundled and forked through
 * `startCluster()` by launcher.test.ts): what `REDIS_URL=… npm start` runs, minus the page.
 * (server.ts itself cannot be bundled: its `require.main === module` start-up would run too.)
 * Env: PORT, HOST (default 127.0.0.1), REDIS_URL, TALK_PREFIX (default `talk-demo:`).
 */
import pino from 'pino'
import { redisAdapter, redisStore } from '../../index'
import { documentsApp } from '../../examples/documents/app'
import type { Doc } from '../../examples/documents/model'

const url = process.env.REDIS_URL
const prefix = process.env.TALK_PREFIX ?? 'talk-demo:'
const store = redisStore<Doc>({ url, prefix: `${prefix}docs:` })
const app = documentsApp({ store, adapter: redisAdapter({ url, prefix }), logger: pino({ level: 'silent' }) })
const host = process.env.HOST ?? '127.0.0.1'
app.listen(Number(process.env.PORT ?? 0), host).then(
  ({ port }) => {
    console.log(`Talk documents demo on http://${host}:${port}`)
    // As server.ts: a Ctrl-C at the terminal (SIGINT to the group) and the launcher's SIGTERM both close gracefully.
    let closing: Promise<unknown> | undefined
    const stop = (): void => void (closing ??= Promise.all([app.close(), store.close()]).then(() => process.exit(0)))
    process.once('SIGTERM', stop)
    process.once('SIGINT', stop)
  },
  (err: unknown) => {
    console.error(err)
    process.exit(1)
  },
)
