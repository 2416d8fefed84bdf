import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

// Keeps docs/architecture.md true: the core (lib/) never reaches into the bundled middleware, and no
// core file grows past the size at which it usually holds two concerns.

const ROOT = resolve(__dirname, '../..')
const LIB = join(ROOT, 'lib')
const MIDDLEWARE = join(ROOT, 'middleware')
const MAX_LINES = 400

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return sourceFiles(path)
    return entry.name.endsWith('.ts') ? [path] : []
  })
}

/** Every module a file names in `import … from`, `export … from`, `import()` or `require()`. */
function specifiers(source: string): string[] {
  const found: string[] = []
  const pattern = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"]([^'"]+)['"]/gm
  for (const match of source.matchAll(pattern)) found.push(match[1] as string)
  return found
}

/** Where a relative specifier points, from the file that names it. */
function target(file: string, specifier: string): string | undefined {
  return specifier.startsWith('.') ? resolve(dirname(file), specifier) : undefined
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path)
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))
}

describe('architecture', () => {
  const files = sourceFiles(LIB)

  it('finds the core files it checks', () => {
    expect(files.length).toBeGreaterThan(20)
    expect(files).toContain(join(LIB, 'app.ts'))
  })

  it('has no lib/ file importing anything from middleware/ or the package entry', () => {
    const crossings = files.flatMap((file) =>
      specifiers(readFileSync(file, 'utf8'))
        .filter((specifier) => {
          const to = target(file, specifier)
          return to !== undefined && (isInside(to, MIDDLEWARE) || !isInside(to, LIB))
        })
        .map((specifier) => `${relative(ROOT, file)} → ${specifier}`),
    )
    expect(crossings).toEqual([])
  })

  it(`has no lib/ file longer than ${MAX_LINES} lines`, () => {
    const long = files
      .map((file) => ({ file: relative(ROOT, file), lines: readFileSync(file, 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
    expect(long).toEqual([])
  })

  it('catches an import of middleware/ in any of its forms', () => {
    const file = join(LIB, 'app.ts')
    const imports = specifiers([
      "import { rateLimit } from '../middleware/rate-limit'",
      "export * from '../middleware'",
      "import type { Validator } from '../middleware/validate'",
      "const lazy = require('../middleware/auth')",
      "await import('../middleware/jwt')",
    ].join('\n'))
    expect(imports.map((specifier) => isInside(target(file, specifier) as string, MIDDLEWARE))).toEqual([true, true, true, true, true])
  })
})
