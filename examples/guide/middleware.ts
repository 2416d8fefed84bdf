// examples/guide/middleware.ts
import { talk, TalkError, type Middleware } from 'talk'

export const app = talk()

/** Times every request: code after `await next()` runs after the handler. */
const timing: Middleware = async function timing(ctx, next) {
  const started = performance.now()
  await next()
  ctx.log.info({ ms: performance.now() - started }, 'handled')
}

/** Refuses writes to documents for clients who are not signed in. */
const signedIn: Middleware = function signedIn(ctx, next) {
  if (ctx.client.user === undefined) throw new TalkError('UNAUTHORIZED', 'Sign in first')
  return next()
}

app.use(timing) // every route
app.use('document/*rest', signedIn) // only names matching the pattern

app.handshake((hs) => {
  // Runs on the HTTP upgrade request, before the socket opens.
  if (hs.query.user !== undefined) hs.user = { name: hs.query.user }
})

app.route('document/rename', (ctx) => ({ renamed: ctx.body.name }))
app.route('status', () => ({ up: true }))
