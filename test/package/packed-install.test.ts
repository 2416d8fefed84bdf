// The package as a user installs it: `npm pack` of a clean copy of the repository (no dist: its
// `prepack` builds it), then the tarball unpacked into a fresh ESM project and a fresh CommonJS project,
// type-checked (the ESM one with `skipLibCheck: false` against the packed .d.ts files), compiled and run: a server
// from `talk`, a client from `talk/client`, one request; the codec from `talk/protocol`; and the docs' first apps (the guide's, the
// README's two), pasted as they are, each listening on PORT by itself. Nothing is fetched: the projects get only the
// package's own `dependencies` (linked from this repository's node_modules) and @types/node, so a
// runtime import or a type the package forgot to declare fails here.
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { TestClient } from '../../lib/testing'

const ROOT = join(__dirname, '..', '..')
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')

/** The consumer's program: compiled by tsc with the project's settings, then run; prints one JSON line. */
const PROGRAM = `
import { talk, TalkError } from 'talk'
import { connect, readBrowserBundle } from 'talk/client'
import { z } from 'zod'

const routes = {
  echo: { body: z.object({ text: z.string() }), reply: z.object({ said: z.string() }) },
}

async function main(): Promise<void> {
  const app = talk()
  app.route('echo', routes.echo, (ctx) => ({ said: ctx.body.text.toUpperCase() }))
  const { url } = await app.listen(0, '127.0.0.1')
  const client = await connect<typeof routes>(url)
  const reply = await client.request('echo', { text: 'hi' })
  const said: string = reply.said
  const untyped = await connect(url)
  const refused = await untyped.request('nope').catch((err: unknown) => (err instanceof TalkError ? err.code : 'other'))
  await untyped.close()
  const bundle = await readBrowserBundle()
  await client.close()
  await app.close()
  console.log(JSON.stringify({ said, refused, bundleExportsConnect: /export\\s*\\{[^}]*\\bconnect\\b/.test(bundle) }))
}
`

/** A tool that speaks the wire itself, from the `talk/protocol` entry: compiled beside main.ts; prints one JSON line. */
const WIRE_PROGRAM = `
import { decode, encodePush, PING_ROUTE, PROTOCOL_VERSION, Sessions, HandshakeGuard } from 'talk/protocol'

const decoded = decode('{"route":"document:get","ref":7}')
console.log(JSON.stringify({
  name: decoded.ok ? decoded.envelope.name : decoded.error.code,
  push: encodePush('node/create', { id: 'n1' }),
  protocol: PROTOCOL_VERSION,
  ping: PING_ROUTE,
  classes: [typeof Sessions, typeof HandshakeGuard],
}))
`

/** Doc snippets a user pastes into their project, by the name they get there. */
const SNIPPETS = {
  'first-app.ts': join(ROOT, 'examples', 'guide', 'first-app.ts'),
  'readme-app.ts': join(__dirname, '..', 'demo', 'readme-app.ts'),
  'readme-auth.ts': join(__dirname, '..', 'demo', 'readme-auth.ts'),
}

const COMPILER_OPTIONS = {
  target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out',
}

interface Packed {
  files: string[]
  manifest: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> }
  tarball: string
}

let work: string
let packed: Packed

/** Copies what a clone has (tracked and new files, nothing ignored: no dist, no node_modules), and links node_modules for the build. */
function cloneInto(dir: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' }).split('\0')
  for (const file of files) {
    if (file === '' || !existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(ROOT, file), join(dir, file))
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
}

function pack(): Packed {
  const clone = join(work, 'clone')
  cloneInto(clone)
  const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' }
  execFileSync('npm', ['pack', '--pack-destination', work], { cwd: clone, env, stdio: 'pipe' })
  const name = readdirSync(work).find((file) => file.endsWith('.tgz'))
  if (name === undefined) throw new Error('npm pack wrote no tarball')
  const tarball = join(work, name)
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter((line) => line !== '' && !line.endsWith('/'))
  const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Packed['manifest']
  return { files: files.map((file) => file.replace(/^package\//, '')).sort(), manifest, tarball }
}

/** A project with the tarball installed as node_modules/talk and the package's dependencies beside it; returns what its program printed. */
function consumer(kind: 'esm' | 'cjs'): string {
  const dir = join(work, kind)
  const talkDir = join(dir, 'node_modules', 'talk')
  mkdirSync(talkDir, { recursive: true })
  execFileSync('tar', ['-xzf', packed.tarball, '-C', talkDir, '--strip-components=1'])
  for (const name of [...Object.keys(packed.manifest.dependencies ?? {}), '@types/node']) {
    mkdirSync(dirname(join(dir, 'node_modules', name)), { recursive: true })
    symlinkSync(join(ROOT, 'node_modules', name), join(dir, 'node_modules', name), 'dir')
  }
  const manifest = kind === 'esm' ? { name: 'consumer-esm', private: true, type: 'module' } : { name: 'consumer-cjs', private: true }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest))
  // The package's .d.ts files are CommonJS declarations whoever imports them, so checking them once (in
  // the ESM project) covers both; the CommonJS project checks its own code, which saves 10 s of CPU.
  const compilerOptions = { ...COMPILER_OPTIONS, skipLibCheck: kind === 'cjs' }
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, include: ['*.ts'] }))
  for (const [name, source] of Object.entries(SNIPPETS)) cpSync(source, join(dir, name))
  // ESM runs main() at the top level with await; CommonJS cannot, so it calls it.
  const start = kind === 'esm' ? 'await main()\n' : 'main().catch((err: unknown) => { console.error(err); process.exit(1) })\n'
  writeFileSync(join(dir, 'main.ts'), PROGRAM + start)
  writeFileSync(join(dir, 'wire.ts'), WIRE_PROGRAM)
  try {
    execFileSync(process.execPath, [TSC, '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    throw new Error(`tsc failed in the ${kind} project:\n${(err as { stdout?: string }).stdout ?? String(err)}`)
  }
  return execFileSync(process.execPath, [join(dir, 'out', 'main.js')], { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } }).trim()
}

/** Runs a compiled snippet of a consumer project with PORT=0, hands its printed URL to `use`, then stops it. */
async function runSnippet(kind: 'esm' | 'cjs', name: string, use: (url: string) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [join(work, kind, 'out', name)], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = ''
      let err = ''
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const found = /listening on (ws:\/\/\S+)/.exec(out)
        if (found !== null) resolve(found[1] as string)
      })
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()))
      void exited.then(() => reject(new Error(`${kind}/${name} exited before listening:\n${out}${err}`)))
    })
    await use(url)
  } finally {
    child.kill('SIGTERM')
    await exited
  }
}

describe('the packed package', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'talk-pack-'))
    packed = pack()
  }, 300_000) // the whole file: 26 s on this 2-core VM when quiet, 185 s under a load average of 15

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it('holds the compiled library, its types and the prebuilt browser bundle, and no sources, tests, benches, CI or examples', () => {
    const outside = packed.files.filter((file) => !/^dist\/((lib|middleware)\/.+|index)\.(js|d\.ts)$/.test(file))
    expect(outside).toEqual(['CHANGELOG.md', 'README.md', 'dist/browser/talk-client.js', 'package.json'])
    expect(packed.files).toEqual(expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/lib/client/index.js', 'dist/lib/testing.js', 'dist/middleware/index.js']))
    // The esbuild step that writes the bundle is a build tool, not part of the package.
    expect(packed.files.filter((file) => file.includes('client/build'))).toEqual([])
  })

  it('needs at run time only what runs: no compiler, no bundler', () => {
    expect(Object.keys(packed.manifest.dependencies ?? {}).sort()).toEqual(['@types/ws', 'cookie', 'ioredis', 'jose', 'path-to-regexp', 'pino', 'prom-client', 'ws', 'zod'])
  })

  it.each(['esm', 'cjs'] as const)('type-checks, compiles and runs a server and a client in a fresh %s project', (kind) => {
    expect(JSON.parse(consumer(kind))).toEqual({ said: 'HI', refused: 'NOT_FOUND', bundleExportsConnect: true })
  }, 180_000)

  // wire.ts was type-checked and compiled with main.ts above, through the package's "exports" map.
  it.each(['esm', 'cjs'] as const)('exposes the codec, wire constants, sessions and guard as talk/protocol in the %s project', (kind) => {
    const printed = execFileSync(process.execPath, [join(work, kind, 'out', 'wire.js')], { encoding: 'utf8' }).trim()
    expect(JSON.parse(printed)).toEqual({
      name: 'document/get', push: '{"command":"node:create","id":"n1"}', protocol: 1, ping: 'talk/ping', classes: ['function', 'function'],
    })
  })

  // The snippets were type-checked with main.ts above; here they run, each started by its own last line.
  it.each(['esm', 'cjs'] as const)('runs the guide\'s and the README\'s first apps as they are in the %s project, on PORT', async (kind) => {
    await runSnippet(kind, 'first-app.js', async (url) => {
      const client = await TestClient.connect(url)
      expect(await client.request('greeting/get')).toEqual({ status: 'success', ref: 1, text: 'hello' })
      await client.close()
    })
    await runSnippet(kind, 'readme-app.js', async (url) => {
      const client = await TestClient.connect(url)
      expect(await client.request('document:create', { id: 'hello-world' })).toEqual({ status: 'success', ref: 1 })
      await client.close()
    })
  }, 60_000)
})
