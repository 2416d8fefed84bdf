// Compile-time checks of the AsyncAPI document's push schemas: `npm test` runs `tsc --noEmit` over
// this file. Every `@ts-expect-error` line must fail to compile.
import { z } from 'zod'
import { asyncapiDocument, talk } from '../../index'

// Names unique to this file: declaration merging reaches the whole program.
declare module 'talk' {
  interface Pushes {
    'asyncdoc:said': { text: string }
  }
}

export function pushSchemas(): void {
  const app = talk()
  const info = { title: 'Chat', version: '1.0.0' }
  asyncapiDocument(app, { info, pushes: { 'asyncdoc:said': z.object({ text: z.string() }), 'undeclared:push': z.object({ any: z.number() }) } })
  // @ts-expect-error -- a declared push's schema must produce its payload type
  asyncapiDocument(app, { info, pushes: { 'asyncdoc:said': z.object({ text: z.number() }) } })
}
