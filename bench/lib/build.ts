import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

/** How to start one bench entry point as a child process. */
export interface Launch {
  file: string
  execArgv: string[]
  env: NodeJS.ProcessEnv
}

const ROOT = path.join(__dirname, '..', '..')
const TS_NODE: readonly string[] = ['-r', 'ts-node/register/transpile-only']

/**
 * Turns bench entry points into plain JavaScript once per run, with esbuild: children then start in
 * a fraction of a second and carry no TypeScript compiler in the heap that S3 and S4 measure. Each
 * entry is bundled on its own (packages stay external, found through NODE_PATH), so a target that
 * does not compile fails alone. Without esbuild, children run the sources through ts-node.
 */
export class Builder {
  private readonly dir = mkdtempSync(path.join(os.tmpdir(), 'talk-bench-'))
  private readonly env: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') }

  /**
   * The launch of `entry` (a .ts file); throws with esbuild's first error when it does not compile.
   * With `lib`, the entry's imports of this checkout's `lib/` are taken from that directory instead.
   */
  launch(entry: string, name: string, lib?: string): Launch {
    let esbuild: typeof import('esbuild')
    try {
      esbuild = require('esbuild') as typeof import('esbuild')
    } catch {
      if (lib !== undefined) throw new Error('building a target against BENCH_BASE needs esbuild')
      return { file: entry, execArgv: [...TS_NODE], env: this.env }
    }
    const outfile = path.join(this.dir, `${name}.js`)
    esbuild.buildSync({
      entryPoints: [lib === undefined ? entry : withLibFrom(entry, lib, this.dir, name)],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      packages: 'external',
      tsconfig: path.join(ROOT, 'tsconfig.json'),
      logLevel: 'silent',
    })
    return { file: outfile, execArgv: [], env: this.env }
  }

  /** Removes the built files. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true })
  }
}

const OWN_LIB = path.join(ROOT, 'lib')
const OWN_ENTRY = path.join(ROOT, 'index')

/** The package entry of the checkout whose `lib/` is `lib`: its root index.ts, or lib/index.ts before the entry moved there. */
function entryOf(lib: string): string {
  const root = path.dirname(lib)
  return existsSync(path.join(root, 'index.ts')) ? path.join(root, 'index') : path.join(lib, 'index')
}

/**
 * A copy of `entry` in `dir` whose relative imports are absolute, those of this checkout's `lib/`
 * and of the package entry pointing into `lib` (another checkout's) instead: esbuild then builds the
 * same target against it.
 */
function withLibFrom(entry: string, lib: string, dir: string, name: string): string {
  const source = readFileSync(entry, 'utf8').replace(/(from\s+')(\.{1,2}\/[^']*)(')/g, (_match, before: string, specifier: string, after: string) => {
    const resolved = path.resolve(path.dirname(entry), specifier)
    if (resolved === OWN_ENTRY) return before + entryOf(lib) + after
    const inOwnLib = resolved === OWN_LIB || resolved.startsWith(OWN_LIB + path.sep)
    return before + (inOwnLib ? path.join(lib, path.relative(OWN_LIB, resolved)) : resolved) + after
  })
  const copy = path.join(dir, `${name}.entry.ts`)
  writeFileSync(copy, source)
  return copy
}
