// examples/web-service/talk-api.ts: the same API as Talk routes. One handshake hook checks the key
// for sockets and HTTP alike; the bridge answers old clients in the old shapes (legacy()).
import { bridge, legacy, talk, TalkError, type HttpRoutes, type TalkApp } from 'talk'
import { z } from 'zod'
import { API_KEYS, repos, userRepos, users } from './data'

const Repo = z.object({ name: z.string(), url: z.string() })

/** The route map: request and reply schemas, shared by the server, typed clients and the OpenAPI document. */
export const routes = {
  'users/list': { reply: z.object({ users: z.array(z.object({ name: z.string() })) }) },
  'repos/list': { reply: z.object({ repos: z.array(Repo) }) },
  'user/repos': { body: z.object({ name: z.string().max(100) }), reply: z.object({ repos: z.array(Repo) }) },
}

/** The Talk app: the API key is checked once per connection (or per HTTP request), never per message. */
export function talkApi(): TalkApp {
  const app = talk()
  app.handshake((hs) => {
    // A credential, not data: kept out of ctx.body over HTTP.
    hs.concealQuery('api-key')
    const key = hs.query['api-key']
    if (key === undefined || key === '') throw new TalkError('BAD_REQUEST', 'api key required')
    if (!API_KEYS.includes(key)) throw new TalkError('UNAUTHORIZED', 'invalid api key')
    hs.user = { apiKey: key }
  })
  app.route('users/list', routes['users/list'], () => ({ users }))
  app.route('repos/list', routes['repos/list'], () => ({ repos }))
  app.route('user/repos', routes['user/repos'], (ctx) => {
    const found = Object.prototype.hasOwnProperty.call(userRepos, ctx.body.name) ? userRepos[ctx.body.name] : undefined
    if (found === undefined) throw new TalkError('NOT_FOUND', "Sorry, can't find that")
    return { repos: found }
  })
  return app
}

/** The old URLs, answered in the old shapes: the bare arrays, and `{ error: message }`. */
export const httpRoutes: HttpRoutes = {
  'GET /api/users': { route: 'users/list', respond: legacy({ field: 'users' }) },
  'GET /api/repos': { route: 'repos/list', respond: legacy({ field: 'repos' }) },
  'GET /api/user/:name/repos': { route: 'user/repos', respond: legacy({ field: 'repos' }) },
}

/** The bridge for the old URLs. */
export function legacyBridge(app: TalkApp): ReturnType<typeof bridge> {
  return bridge(app, { routes: httpRoutes })
}
