import { mkdtempSync, rmSync } from 'node:fs'
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

  /** The launch of `entry` (a .ts file); throws with esbuild's first error when it does not compile. */
  launch(entry: string, name: string): Launch {
    let esbuild: typeof import('esbuild')
    try {
      esbuild = require('esbuild') as typeof import('esbuild')
    } catch {
      return { file: entry, execArgv: [...TS_NODE], env: this.env }
    }
    const outfile = path.join(this.dir, `${name}.js`)
    esbuild.buildSync({
      entryPoints: [entry],
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
