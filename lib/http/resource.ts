import type { HttpRoutes, HttpTarget } from './routes'

/** The conventional actions of a resource. */
export type ResourceAction = 'list' | 'get' | 'create' | 'update' | 'delete'

const ACTIONS: readonly ResourceAction[] = ['list', 'get', 'create', 'update', 'delete']

/** Options of `resource()`. */
export interface ResourceOptions {
  /** Only these actions are mapped (default: all five). */
  only?: readonly ResourceAction[]
  /** Name of the id parameter in the path and the body (default `id`). */
  param?: string
}

/**
 * The conventional mapping of one resource onto five routes named `<name>/<action>`:
 *
 * | HTTP | route | success |
 * | --- | --- | --- |
 * | `GET /documents` | `document/list` | 200 |
 * | `POST /documents` | `document/create` | 201 |
 * | `GET /documents/:id` | `document/get` | 200 |
 * | `POST`, `PUT`, `PATCH /documents/:id` | `document/update` | 200 |
 * | `DELETE /documents/:id` | `document/delete` | 200 |
 *
 * Spread it into `bridge()`'s `routes`. Throws a TypeError for a bad path, name or option.
 *
 * @example bridge(app, { routes: { ...resource('/documents', 'document'), 'GET /health': 'health' } })
 */
export function resource(path: string, name: string, options: ResourceOptions = {}): HttpRoutes {
  if (typeof path !== 'string' || !/^\/\S*[^/]$/.test(path)) {
    throw new TypeError('resource(): path must start with "/" and not end with one, e.g. "/documents"')
  }
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('resource(): name must be a route prefix such as "document"')
  const param = options.param ?? 'id'
  if (!/^[A-Za-z_$][\w$]*$/.test(param)) throw new TypeError('resource(): param must be an identifier')
  const only = options.only ?? ACTIONS
  for (const action of only) {
    if (!ACTIONS.includes(action)) throw new TypeError(`resource(): unknown action "${String(action)}"`)
  }
  const one = `${path}/:${param}`
  const routes: Record<string, string | HttpTarget> = {}
  if (only.includes('list')) routes[`GET ${path}`] = `${name}/list`
  if (only.includes('create')) routes[`POST ${path}`] = { route: `${name}/create`, status: 201 }
  if (only.includes('get')) routes[`GET ${one}`] = `${name}/get`
  if (only.includes('update')) {
    for (const method of ['POST', 'PUT', 'PATCH']) routes[`${method} ${one}`] = `${name}/update`
  }
  if (only.includes('delete')) routes[`DELETE ${one}`] = `${name}/delete`
  return routes
}
