// examples/web-service/data.ts: the example's fake database, shared by the old and the new server.

/** API keys that may call the API (they identify callers; they are not logins). */
export const API_KEYS: readonly string[] = ['foo', 'bar', 'baz']

/** A repository. */
export interface Repo {
  name: string
  url: string
}

export const repos: Repo[] = [
  { name: 'express', url: 'https://github.com/expressjs/express' },
  { name: 'stylus', url: 'https://github.com/learnboost/stylus' },
  { name: 'cluster', url: 'https://github.com/learnboost/cluster' },
]

export const users: { name: string }[] = [{ name: 'tobi' }, { name: 'loki' }, { name: 'jane' }]

/** Each user's repositories. */
export const userRepos: Readonly<Record<string, Repo[]>> = {
  tobi: [repos[0] as Repo, repos[1] as Repo],
  loki: [repos[1] as Repo],
  jane: [repos[2] as Repo],
}
