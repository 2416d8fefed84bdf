import type { z } from 'zod'
import type { RouteMap } from '../types'

/** The colon spelling of a slash-form route name: `document/get` → `document:get`. */
export type ColonName<S extends string> = S extends `${infer Head}/${infer Rest}` ? `${Head}:${ColonName<Rest>}` : S

/** The names a client may request: every key of the route map, in slash or colon spelling. */
export type RouteName<R extends RouteMap> = (keyof R & string) | ColonName<keyof R & string>

/** The spec of a route named in either spelling. */
export type SpecOf<R extends RouteMap, N extends string> = N extends keyof R
  ? R[N]
  : { [K in keyof R & string]: ColonName<K> extends N ? R[K] : never }[keyof R & string]

/** What a request sends: the input type of the route's body schema, or any object when it declares none. */
export type PayloadOf<S> = S extends { body: z.ZodType } ? z.input<S['body']> : Record<string, unknown>

/** What a request resolves with: the output type of the route's reply schema, or any object when it declares none. */
export type ResultOf<S> = S extends { reply: z.ZodType } ? z.output<S['reply']> : Record<string, unknown>

/** Per-request options. */
export interface RequestOptions {
  /** Milliseconds to wait for the reply, queue time included; past it the request rejects with TIMEOUT (default: the client's `timeout`; 0 waits forever). */
  timeout?: number
  /** Aborting it rejects the request with ABORTED (the server may still run it). */
  signal?: AbortSignal
}

/** The arguments after the name: the payload is optional when the route's body accepts `{}`. */
export type RequestArgs<S> = {} extends PayloadOf<S>
  ? [payload?: PayloadOf<S>, options?: RequestOptions]
  : [payload: PayloadOf<S>, options?: RequestOptions]
