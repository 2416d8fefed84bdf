// examples/guide/first-app.ts
import { talk } from 'talk'

export const app = talk()

const greetings = new Map<string, string>()

app.route('greeting/set', (ctx) => {
  greetings.set(ctx.client.id, String(ctx.body.text))
  // No reply: Talk answers { "status": "success" } when the handler returns.
})

app.route('greeting/get', (ctx) => {
  // Returning an object replies with it: { "status": "success", "text": "…" }.
  return { text: greetings.get(ctx.client.id) ?? 'hello' }
})

app.listen(Number(process.env.PORT ?? 3000)).then(({ url }) => console.log(`listening on ${url}`))
