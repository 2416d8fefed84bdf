import { execFileSync } from 'node:child_process'
import * as path from 'node:path'

const ROOT = path.join(__dirname, '..', '..')

/** Runs a script in a fresh Node process with ts-node and returns what it printed. */
function fresh(script: string): string {
  return execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8' }).trim()
}

const ioredisLoaded = "Object.keys(require.cache).some((file) => file.includes('/node_modules/ioredis/'))"

describe('ioredis is loaded only by the Redis parts', () => {
  it('is not loaded by an app that uses no Redis', () => {
    expect(fresh(`const { talk } = require('./lib'); talk().route('x', () => ({})); console.log(${ioredisLoaded})`)).toBe('false')
  })

  it('is loaded once a Redis client is made', () => {
    expect(fresh(`const { redisClass } = require('./lib/adapters/ioredis'); const C = redisClass(); console.log(typeof C, ${ioredisLoaded})`)).toBe('function true')
  })
})
