// examples/rest-migration/tasks.ts
import { z } from 'zod'

/** A task of the shared to-do list. */
export interface Task {
  id: string
  title: string
  done: boolean
  owner: string
}

/** Request schemas, shared by the Express API and its Talk version. */
export const NewTask = z.object({ title: z.string().min(1).max(200) })
export const TaskChanges = z.object({ title: z.string().min(1).max(200).optional(), done: z.boolean().optional() })
/** `?done=true` arrives as a string over HTTP and as a boolean over a socket: accept both. */
export const TaskFilter = z.object({ done: z.union([z.boolean(), z.stringbool()]).optional() })

/** The API's users by bearer token (a real app asks its session store or verifies a JWT). */
const TOKENS = new Map([
  ['alice-token', 'alice'],
  ['bob-token', 'bob'],
])

/** The user an `Authorization: Bearer <token>` header or a `token` cookie names, if any. */
export function userFor(authorization: string | undefined, cookie: string | undefined): string | undefined {
  const token = authorization?.startsWith('Bearer ') === true ? authorization.slice(7) : cookie
  return token === undefined ? undefined : TOKENS.get(token)
}

/** The tasks, in memory. */
export class TaskStore {
  private readonly tasks = new Map<string, Task>()
  private next = 1

  list(done?: boolean): Task[] {
    return [...this.tasks.values()].filter((t) => done === undefined || t.done === done)
  }

  get(id: string): Task | undefined {
    return this.tasks.get(id)
  }

  create(owner: string, title: string): Task {
    const task = { id: String(this.next++), title, done: false, owner }
    this.tasks.set(task.id, task)
    return task
  }

  update(id: string, changes: { title?: string; done?: boolean }): Task | undefined {
    const task = this.tasks.get(id)
    if (task === undefined) return undefined
    const updated = { ...task, ...changes }
    this.tasks.set(id, updated)
    return updated
  }

  delete(id: string): boolean {
    return this.tasks.delete(id)
  }
}
