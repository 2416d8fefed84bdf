import { auth, jwt, talk } from 'talk'

// Clients connect with ws://host/?token=<JWT>: without a valid token the upgrade is refused with 401,
// and ctx.client.user is the token's payload. (The demo takes the same middleware: documentsApp({ auth }).)
const app = talk()
app.use(auth({ verify: jwt({ secret: process.env.JWT_SECRET ?? '' }), from: 'query' }))
app.route('me', (ctx) => ({ name: ctx.client.user?.name }))

app.listen(Number(process.env.PORT ?? 3000)).then(({ url }) => console.log(`listening on ${url}`))
