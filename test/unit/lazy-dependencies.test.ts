import { execFileSync } from 'node:child_process'
import * as path from 'node:path'

const ROOT = path.join(__dirname, '..', '..')

/** Runs a script in a fresh Node process with ts-node and returns what it printed. */
function fresh(script: string): string {
  return execFileSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], { cwd: ROOT, encoding: 'utf8' }).trim()
}

/** A script expression: which of ioredis and prom-client the process has loaded. */
const loaded = "JSON.stringify(['ioredis', 'prom-client'].filter((name) => Object.keys(require.cache).some((file) => file.includes(`/node_modules/${name}/`))))"

// An app pays only for what it uses: ioredis (about 7 MB of heap) and prom-client load with the features that need them.
describe('optional dependencies load with the feature that needs them', () => {
  it('loads neither ioredis nor prom-client for an app without Redis or metrics', () => {
    expect(fresh(`const { talk } = require('./index'); talk().route('x', () => ({})); console.log(${loaded})`)).toBe('[]')
  })

  it('loads prom-client for an app with metrics on', () => {
    expect(fresh(`const { talk } = require('./index'); talk({ metrics: true }); console.log(${loaded})`)).toBe('["prom-client"]')
  })

  it('loads ioredis once a Redis client is made', () => {
    expect(fresh(`const { redisClass } = require('./lib/adapters/ioredis'); const C = redisClass(); console.log(typeof C, ${loaded})`)).toBe('function ["ioredis"]')
  })
})
