import type { z } from 'zod'
import { TalkError } from '../lib/errors'
import type { ValidateOptions, Validator } from '../lib/built-ins'
import type { Middleware } from '../lib/types'

export type { ValidateOptions, Validator }

/** One problem with the input, as sent in a VALIDATION_FAILED reply's `details`. */
export interface ValidationIssue {
  /** Where the problem is: `['data', 'name']` for `body.data.name`. */
  path: (string | number)[]
  message: string
  /** zod's issue code, e.g. `invalid_type`; `too_many_issues` on the entry that counts the issues left out. */
  code: string
  /** On the `too_many_issues` entry only: how many issues were left out. */
  more?: number
}

/** Issues listed in one VALIDATION_FAILED reply; past it one more entry counts the rest. */
export const MAX_ISSUES = 20
/** Characters of an issue's message, and of each path key, sent at most (longer ones end with `…`). */
const MAX_TEXT = 200
/** Keys of an issue's path sent at most; a deeper path ends with a `…` key. */
const MAX_PATH = 32

/**
 * Turns zod issues into the wire's `details` shape (symbols in paths become strings), bounded so the
 * reply is never much bigger than the request that earned it: the first MAX_ISSUES issues, then one
 * `{ path: [], code: 'too_many_issues', more: n }` entry counting the rest; long messages and path
 * keys are cut at 200 characters, paths at 32 keys.
 */
export function toIssues(error: z.ZodError, prefix?: string): ValidationIssue[] {
  const all = error.issues
  const issues: ValidationIssue[] = all.slice(0, MAX_ISSUES).map((issue) => ({
    path: bounded([
      ...(prefix === undefined ? [] : [prefix]),
      ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
    ]),
    message: cut(issue.message),
    code: issue.code,
  }))
  const more = all.length - issues.length
  if (more > 0) issues.push({ path: [], message: `${more} more issue${more === 1 ? '' : 's'} not listed`, code: 'too_many_issues', more })
  return issues
}

function bounded(path: (string | number)[]): (string | number)[] {
  const keys = path.length > MAX_PATH ? [...path.slice(0, MAX_PATH - 1), '…'] : path
  return keys.map((key) => (typeof key === 'string' ? cut(key) : key))
}

function cut(text: string): string {
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text
}

/**
 * Checks the body (and params) against zod schemas. On failure it answers `VALIDATION_FAILED`
 * with the issues (path, message, code) in `details`, at most MAX_ISSUES of them (see `toIssues`);
 * on success the parsed value replaces the input.
 * Right after the route name it also types the handler's `ctx.body` from the schema.
 *
 * @example app.route('node/create', validate({ body: NodeSchema }), (ctx) => create(ctx.body.type))
 */
export function validate<S extends ValidateOptions>(options: S): Validator<S> {
  if (options === null || typeof options !== 'object') throw new TypeError('validate() takes { body?, params? }')
  for (const key of ['body', 'params'] as const) {
    const schema = options[key]
    if (schema !== undefined && typeof (schema as { safeParse?: unknown }).safeParse !== 'function') {
      throw new TypeError(`validate(): "${key}" must be a zod schema`)
    }
  }
  const { body, params } = options
  const middleware: Middleware = function validate(ctx, next) {
    if (params !== undefined) {
      const result = params.safeParse(ctx.params)
      if (!result.success) throw new TalkError('VALIDATION_FAILED', 'Route parameters are invalid', toIssues(result.error, 'params'))
      ctx.params = result.data as typeof ctx.params
    }
    if (body !== undefined) {
      const result = body.safeParse(ctx.body)
      if (!result.success) throw new TalkError('VALIDATION_FAILED', 'Request body is invalid', toIssues(result.error))
      ctx.body = result.data as typeof ctx.body
    }
    return next()
  }
  return Object.assign(middleware, { spec: options })
}
