import { createHash } from 'node:crypto'
import type Redis from 'ioredis'

/**
 * Lua scripts of the Redis adapter. Key layout under a prefix `p` (see docs/scaling.md):
 * `p nodes` set of node ids; `p lease:<node>` a key with a TTL while the node lives; `p room:<room>`
 * hash `<node>|<client>` → user JSON; `p held:<node>` hash `["<room>","<client>"]` → 1, so a dead
 * node's entries can be found without scanning every room. The scripts touch keys they build from
 * the prefix, so they need a single Redis (or Sentinel), not Redis Cluster.
 */

/** A script with its SHA-1, run by EVALSHA with a fallback to EVAL when Redis does not know it (after a restart). */
export interface Script {
  readonly source: string
  readonly sha: string
}

/** Wraps a script's source with its SHA-1. */
export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') }
}

/** Runs a script: EVALSHA first, EVAL once when Redis answers NOSCRIPT. */
export async function runScript(redis: Redis, s: Script, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  try {
    return await redis.evalsha(s.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
    return redis.eval(s.source, keys.length, ...keys, ...args)
  }
}

// Removes every presence entry a node holds. Shared by the sweep (dead nodes) and a node's own resync.
const PURGE = `
local function purge(prefix, node, out)
  local held = prefix .. 'held:' .. node
  local fields = redis.call('HKEYS', held)
  for _, f in ipairs(fields) do
    local pair = cjson.decode(f)
    local roomKey = prefix .. 'room:' .. pair[1]
    local field = node .. '|' .. pair[2]
    local user = redis.call('HGET', roomKey, field)
    if user then
      redis.call('HDEL', roomKey, field)
      if out then
        out[#out + 1] = pair[1]
        out[#out + 1] = pair[2]
        out[#out + 1] = user
      end
    end
  end
  redis.call('DEL', held)
end
`

/**
 * Cleans up after nodes whose lease expired: drops them from the node set and their entries from
 * every room. KEYS: nodes set. ARGV: prefix. Returns the number of dead nodes, then flat triples
 * room, client id, user JSON.
 */
export const SWEEP = script(`${PURGE}
local out = { 0 }
local nodes = redis.call('SMEMBERS', KEYS[1])
for _, node in ipairs(nodes) do
  if redis.call('EXISTS', ARGV[1] .. 'lease:' .. node) == 0 then
    redis.call('SREM', KEYS[1], node)
    out[1] = out[1] + 1
    purge(ARGV[1], node, out)
  end
end
return out
`)

/** Drops every entry of one node (its own, at resync or stop). KEYS: none. ARGV: prefix, node id. */
export const PURGE_NODE = script(`${PURGE}
purge(ARGV[1], ARGV[2], nil)
return 1
`)

/**
 * The members of a room on live nodes other than the caller. KEYS: room hash. ARGV: prefix, own
 * node id. Returns flat pairs client id, user JSON.
 */
export const MEMBERS = script(`
local all = redis.call('HGETALL', KEYS[1])
local live = {}
local out = {}
for i = 1, #all, 2 do
  local field = all[i]
  local sep = string.find(field, '|', 1, true)
  if sep then
    local node = string.sub(field, 1, sep - 1)
    if node ~= ARGV[2] then
      local ok = live[node]
      if ok == nil then
        ok = redis.call('EXISTS', ARGV[1] .. 'lease:' .. node) == 1
        live[node] = ok
      end
      if ok then
        out[#out + 1] = string.sub(field, sep + 1)
        out[#out + 1] = all[i + 1]
      end
    end
  end
end
return out
`)
