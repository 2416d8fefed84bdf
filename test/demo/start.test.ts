// `npm start` as a user runs it: the build (`prestart`: tsc, then the browser bundle), then the compiled entry point in its own
// process, which finds `talk` by package self-reference as an installed app would; stopped with SIGTERM.
import { execFileSync, spawn } from 'node:child_process'
import * as path from 'node:path'
import { TestClient } from '../../lib/testing'

const ROOT = path.join(__dirname, '..', '..')
const ENTRY = path.join(ROOT, 'dist', 'examples', 'documents', 'server.js')

describe('the demo entry point (npm start)', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'pipe' })
    // `npm run build`'s second step: the browser bundle the page loads, which the demo reads from dist.
    execFileSync(process.execPath, [path.join(ROOT, 'dist', 'lib', 'client', 'build.js')], { cwd: ROOT, stdio: 'pipe' })
  }, 60_000)

  it('prints its URL, serves the prebuilt browser client and the seed conversation, and on SIGTERM closes clients with 1001 and exits 0', async () => {
    const child = spawn(process.execPath, [ENTRY], { cwd: ROOT, env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = ''
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString()
          const found = /http:\/\/localhost:(\d+)/.exec(out)
          if (found !== null) resolve(`ws://127.0.0.1:${found[1]}`)
        })
        void exited.then((code) => reject(new Error(`the demo exited with ${code} before printing its URL`)))
      })
      // The page's client is the prebuilt bundle from dist: no esbuild at run time.
      expect(await (await fetch(`${url.replace('ws:', 'http:')}/talk-client.js`)).text()).toMatch(/export\s*\{[^}]*\bconnect\b/)
      const client = await TestClient.connect(`${url}/?user=ann`)
      expect(await client.request('document:create', { id: 'hello-world' })).toEqual({ status: 'success', ref: 1 })
      child.kill('SIGTERM')
      expect((await client.closed).code).toBe(1001)
      expect(await exited).toBe(0)
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  })
})
