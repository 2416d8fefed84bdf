import { get } from 'node:http'

/** GET over a fresh connection (no keep-alive pool left behind): status, content type and body text. */
export function httpGet(port: number, path: string): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text }))
    }).on('error', reject)
  })
}
