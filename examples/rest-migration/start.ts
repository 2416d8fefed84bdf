// examples/rest-migration/start.ts
import { startServer } from './server.js'
import { startStandalone } from './standalone.js'

// `node start.js` runs the bridge in front of Express, `node start.js standalone` Talk alone; on PORT or 3000.
const start = process.argv[2] === 'standalone' ? startStandalone : startServer
start(Number(process.env.PORT ?? 3000)).then(({ server }) => console.log('listening on', server.address()))
