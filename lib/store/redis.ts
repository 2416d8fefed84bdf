import { randomBytes } from 'node:crypto'
import type { Redis, RedisOptions } from 'ioredis'
import { redisClass } from '../adapters/ioredis'
import type { Logger } from 'pino'
import { runScript, script } from '../adapters/redis-scripts'
import { TalkError } from '../errors'
import type { Store } from './store'

/** Options of `redisStore()`. */
export interface RedisStoreOptions {
  /** A `redis://` or `rediss://` URL; when absent, `redis` options (or localhost:6379) are used. */
  url?: string
  /** ioredis options (host, port, password, tls, sentinels…); merged over the URL's. */
  redis?: RedisOptions
  /** Prefix of every key (default `talk:store:`). */
  prefix?: string
  /** Tries of one `update` before it gives up with UNAVAILABLE under heavy contention (default 50). */
  maxAttempts?: number
  /** Where Redis errors are logged before they are answered UNAVAILABLE (default: not logged). */
  logger?: Logger
}

/**
 * Compare-and-set of a value: writes only when its version is still the one read. Versions come
 * from one counter, so a key deleted and created again never repeats a version (no ABA). Each
 * attempt carries a token, kept for a while once it wrote: the same attempt run again (ioredis
 * resends a command whose reply a dropped connection lost) finds its own write and answers 1
 * without writing, or publishing, twice. With a channel, the write publishes its message in the
 * same step, so messages come in the order of the writes.
 * KEYS: value hash, version counter, token key. ARGV: version read ('' when absent), new JSON,
 * token lifetime in ms, then optionally channel and message. Returns 1 (written, now or before) or 0.
 */
const CAS = script(`
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
local v = redis.call('HGET', KEYS[1], 'v')
if (v or '') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[2]), 'd', ARGV[2])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
if ARGV[4] then redis.call('PUBLISH', ARGV[4], ARGV[5]) end
return 1
`)

/**
 * How long a write's token is kept, in ms: far longer than a command can wait for a reconnect
 * before ioredis gives up on it (a few hundred ms with the store's retry settings).
 */
const TOKEN_TTL_MS = 60_000

/** Unconditional write with a fresh version. KEYS: value hash, version counter. ARGV: JSON. */
const PUT = script(`
redis.call('HSET', KEYS[1], 'v', redis.call('INCR', KEYS[2]), 'd', ARGV[1])
return 1
`)

/**
 * A Store in Redis that several nodes share. Values are JSON (what JSON cannot hold is lost); each
 * key is a hash of the JSON and a version. `update` reads, runs `change`, and writes with a
 * compare-and-set on the version, trying again on a conflict, so two nodes changing one key at
 * once lose nothing; each attempt is tagged, so a write whose reply was lost to a dropped
 * connection is found, not applied again. `update`'s `publish` option publishes a message in the
 * same atomic step as the write. Redis trouble rejects with TalkError UNAVAILABLE (the client may
 * retry). Keys under `prefix` that start with a NUL character are the store's own.
 *
 * @example
 * const docs = redisStore<Doc>({ url: process.env.REDIS_URL, prefix: 'docs:' })
 * await docs.update('hello-world', (doc) => doc && { ...doc, nodes: [...doc.nodes, node] })
 */
export function redisStore<T>(options: RedisStoreOptions = {}): Store<T> {
  if (options === null || typeof options !== 'object') throw new TypeError('redisStore() takes an options object')
  if (options.url !== undefined && typeof options.url !== 'string') throw new TypeError('redisStore(): url must be a string')
  const prefix = options.prefix ?? 'talk:store:'
  if (typeof prefix !== 'string') throw new TypeError('redisStore(): prefix must be a string')
  const maxAttempts = options.maxAttempts ?? 50
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new TypeError('redisStore(): maxAttempts must be a positive integer')
  const redisOptions: RedisOptions = {
    retryStrategy: (times) => Math.min(times * 50, 1000),
    ...options.redis,
    // A command waits for a reconnect a little, then fails: a handler answers UNAVAILABLE rather than hang.
    maxRetriesPerRequest: 2,
    // A command whose reply a dropped connection lost is sent again once it is back (ioredis'
    // default, kept on purpose): reads are safe to repeat and the compare-and-set finds its own
    // token, while without the resend every lost reply would be a failed change for the client.
    autoResendUnfulfilledCommands: true,
    connectionName: 'talk-store',
  }
  const RedisClient = redisClass()
  const redis = options.url === undefined ? new RedisClient(redisOptions) : new RedisClient(options.url, redisOptions)
  redis.on('error', (err: unknown) => options.logger?.debug({ err }, 'redis store connection error'))
  const versions = `${prefix}\u0000version`
  const key = (k: string): string => prefix + k
  // Tokens of write attempts: unique per store (a random part) and per attempt (a counter).
  const tokens = `${prefix}\u0000write:${randomBytes(9).toString('base64url')}:`
  let attempts = 0

  async function guarded<R>(what: string, run: () => Promise<R>): Promise<R> {
    try {
      return await run()
    } catch (err) {
      if (err instanceof TalkError) throw err
      options.logger?.warn({ err }, `redis store: ${what} failed`)
      throw new TalkError('UNAVAILABLE', 'Shared state is unavailable, try again')
    }
  }

  // Updates of one key from this process wait for each other: they would only collide and retry.
  // Conflicts are then between processes only.
  const tails = new Map<string, Promise<unknown>>()
  function queued<R>(k: string, run: () => Promise<R>): Promise<R> {
    const previous = tails.get(k) ?? Promise.resolve()
    const result = previous.then(run, run)
    const tail = result.catch(() => undefined)
    tails.set(k, tail)
    void tail.then(() => {
      if (tails.get(k) === tail) tails.delete(k)
    })
    return result
  }

  return {
    get: (k) =>
      guarded('get', async () => {
        const json = await redis.hget(key(k), 'd')
        return json === null ? undefined : (JSON.parse(json) as T)
      }),
    set: (k, value) =>
      guarded('set', async () => {
        await runScript(redis, PUT, [key(k), versions], [JSON.stringify(value)])
      }),
    update: (k, change, updateOptions) => queued(k, () => guarded('update', async () => {
        for (let attempt = 1; attempt <= maxAttempts; attempt++) {
          const [version, json] = await redis.hmget(key(k), 'v', 'd')
          const current = json === null || json === undefined ? undefined : (JSON.parse(json) as T)
          const next = change(current)
          if (next === undefined) return current
          const nextJson = JSON.stringify(next)
          const publication = updateOptions?.publish?.(next)
          const token = tokens + String(++attempts)
          const args = [version ?? '', nextJson, TOKEN_TTL_MS, ...(publication === undefined ? [] : [publication.channel, publication.message])]
          let written: unknown
          try {
            written = await runScript(redis, CAS, [key(k), versions, token], args)
          } catch (err) {
            // The reply was lost (the connection dropped and ioredis gave up on the command): the
            // write may have run. Its token says whether it did; it cannot run later, as nothing resends it.
            if (await redis.exists(token).catch(() => 0) !== 1) throw err
            written = 1
          }
          if (written === 1) return JSON.parse(nextJson) as T
          // Lost the race: back off a little, more each time, with jitter so the racers spread out.
          if (attempt > 2) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attempt * 2, 50)))
        }
        throw new TalkError('UNAVAILABLE', 'Too many concurrent changes, try again')
      })),
    delete: (k) => guarded('delete', async () => (await redis.del(key(k))) === 1),
    keys: (p = '') =>
      guarded('keys', async () => {
        const out: string[] = []
        let cursor = '0'
        do {
          const [next, found] = await redis.scan(cursor, 'MATCH', `${globEscape(prefix + p)}*`, 'COUNT', 500)
          cursor = next
          for (const k of found) if (!k.startsWith(`${prefix}\u0000`)) out.push(k.slice(prefix.length))
        } while (cursor !== '0')
        return [...new Set(out)]
      }),
    close: async () => {
      if (redis.status === 'end') return
      try {
        await redis.quit()
      } catch {
        redis.disconnect()
      }
    },
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&')
}
