import type { z } from 'zod'
import { TalkError } from '../lib/errors'
import type { Middleware } from '../lib/types'

/** Schemas `validate()` checks: the body and the route params. */
export interface ValidateOptions {
  /** Checked against `ctx.body`; on success the parsed (coerced, stripped) value replaces it. */
  body?: z.ZodType
  /** Checked against `ctx.params`; on success the parsed value replaces them. */
  params?: z.ZodType
}

/** One problem with the input, as sent in a VALIDATION_FAILED reply's `details`. */
export interface ValidationIssue {
  /** Where the problem is: `['data', 'name']` for `body.data.name`. */
  path: (string | number)[]
  message: string
  /** zod's issue code, e.g. `invalid_type`. */
  code: string
}

/** Turns zod issues into the wire's `details` shape (symbols in paths become strings). */
export function toIssues(error: z.ZodError, prefix?: string): ValidationIssue[] {
  return error.issues.map((issue) => ({
    path: [
      ...(prefix === undefined ? [] : [prefix]),
      ...issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
    ],
    message: issue.message,
    code: issue.code,
  }))
}

/**
 * A `validate()` middleware carrying its schemas: put first after the route name, it types the
 * handler's `ctx.body` and `ctx.params` like a route spec does.
 */
export interface Validator<S extends ValidateOptions = ValidateOptions> extends Middleware {
  readonly spec: S
}

/**
 * Checks the body (and params) against zod schemas. On failure it answers `VALIDATION_FAILED`
 * with the issues (path, message, code) in `details`; on success the parsed value replaces the input.
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
