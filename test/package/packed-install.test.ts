// The package as a user installs it: `npm pack` of a clean copy of the repository (no dist: its
// `prepack` builds it), then the tarball unpacked into a fresh ESM project and a fresh CommonJS project,
// type-checked with `skipLibCheck: false` against the packed .d.ts files, compiled and run: a server
// from `talk`, a client from `talk/client`, one request. Nothing is fetched: the projects get only the
// package's own `dependencies` (linked from this repository's node_modules) and @types/node, so a
// runtime import or a type the package forgot to declare fails here.
import { execFileSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

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
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: COMPILER_OPTIONS, include: ['main.ts'] }))
  // ESM runs main() at the top level with await; CommonJS cannot, so it calls it.
  const start = kind === 'esm' ? 'await main()\n' : 'main().catch((err: unknown) => { console.error(err); process.exit(1) })\n'
  writeFileSync(join(dir, 'main.ts'), PROGRAM + start)
  try {
    execFileSync(process.execPath, [TSC, '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    throw new Error(`tsc failed in the ${kind} project:\n${(err as { stdout?: string }).stdout ?? String(err)}`)
  }
  return execFileSync(process.execPath, [join(dir, 'out', 'main.js')], { cwd: dir, encoding: 'utf8', env: { ...process.env, LOG_LEVEL: 'silent' } }).trim()
}

describe('the packed package', () => {
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'talk-pack-'))
    packed = pack()
  }, 120_000)

  afterAll(() => {
    if (work !== undefined) rmSync(work, { recursive: true, force: true })
  })

  it('holds the compiled library, its types and the prebuilt browser bundle, and no sources, tests, benches, CI or examples', () => {
    const outside = packed.files.filter((file) => !/^dist\/(lib|middleware)\/.+\.(js|d\.ts)$/.test(file))
    expect(outside).toEqual(['CHANGELOG.md', 'README.md', 'dist/browser/talk-client.js', 'package.json'])
    expect(packed.files).toEqual(expect.arrayContaining(['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/client/index.js', 'dist/lib/testing.js', 'dist/middleware/index.js']))
    // The esbuild step that writes the bundle is a build tool, not part of the package.
    expect(packed.files.filter((file) => file.includes('client/build'))).toEqual([])
  })

  it('needs at run time only what runs: no compiler, no bundler', () => {
    expect(Object.keys(packed.manifest.dependencies ?? {}).sort()).toEqual(['@types/ws', 'cookie', 'ioredis', 'jose', 'path-to-regexp', 'pino', 'prom-client', 'ws', 'zod'])
  })

  it.each(['esm', 'cjs'] as const)('type-checks with skipLibCheck false, compiles and runs a server and a client in a fresh %s project', (kind) => {
    expect(JSON.parse(consumer(kind))).toEqual({ said: 'HI', refused: 'NOT_FOUND', bundleExportsConnect: true })
  }, 60_000)
})
