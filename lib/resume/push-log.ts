import { payloadBytes, type Outgoing } from '../frames'

/**
 * The pushes sent to one session, numbered from 1, kept for replay after a resume: the last
 * `maxPushes` of them within `maxBytes`. A ring, oldest at `head`, grown on demand (an idle client
 * costs nothing).
 */
export class PushLog {
  private frames: (Outgoing | undefined)[] = []
  private sizes: number[] = []
  private head = 0
  private count = 0
  /** Number of the oldest logged push; `first + count - 1` pushes were sent in all. */
  private first = 1
  private size = 0

  constructor(
    private readonly maxPushes: number,
    private readonly maxBytes: number,
  ) {}

  /** Pushes logged now. */
  get logged(): number {
    return this.count
  }

  /** Bytes of the pushes logged now. */
  get bytes(): number {
    return this.size
  }

  /** Counts and logs one push; the oldest ones go past `maxPushes` or `maxBytes`. */
  append(frame: Outgoing): void {
    const bytes = payloadBytes(frame)
    if (this.count === this.frames.length) {
      if (this.frames.length < this.maxPushes) this.grow()
      else this.dropOldest()
    }
    const slot = (this.head + this.count) % this.frames.length
    this.frames[slot] = frame
    this.sizes[slot] = bytes
    this.count++
    this.size += bytes
    while (this.size > this.maxBytes) this.dropOldest()
  }

  /** Whether a client that has received `seen` pushes can be given every one it missed. */
  canReplay(seen: number): boolean {
    return Number.isSafeInteger(seen) && seen >= this.first - 1 && seen <= this.first + this.count - 1
  }

  /** The logged pushes after the first `seen`, in order. */
  missed(seen: number): Outgoing[] {
    const out: Outgoing[] = []
    for (let i = Math.max(0, seen + 1 - this.first); i < this.count; i++) {
      out.push(this.frames[(this.head + i) % this.frames.length] as Outgoing)
    }
    return out
  }

  /** The client has received the first `seen` pushes: they are forgotten. */
  acknowledge(seen: number): void {
    while (this.count > 0 && this.first <= seen) this.dropOldest()
  }

  /** Numbers the next push `sent + 1` (a session moved from another node, where `sent` were sent); only while empty. */
  continueAfter(sent: number): void {
    if (this.count === 0 && Number.isSafeInteger(sent) && sent >= 0) this.first = sent + 1
  }

  /** Forgets every logged push (the session ended); the numbering goes on. */
  clear(): void {
    while (this.count > 0) this.dropOldest()
  }

  /** Doubles the ring (8 slots at first, `maxPushes` at most), oldest first again. */
  private grow(): void {
    const capacity = Math.min(this.maxPushes, Math.max(8, this.frames.length * 2))
    const frames = new Array<Outgoing | undefined>(capacity).fill(undefined)
    const sizes = new Array<number>(capacity).fill(0)
    for (let i = 0; i < this.count; i++) {
      const from = (this.head + i) % this.frames.length
      frames[i] = this.frames[from]
      sizes[i] = this.sizes[from] ?? 0
    }
    this.frames = frames
    this.sizes = sizes
    this.head = 0
  }

  private dropOldest(): void {
    if (this.count === 0) return
    this.frames[this.head] = undefined
    this.size -= this.sizes[this.head] ?? 0
    this.head = (this.head + 1) % this.frames.length
    this.count--
    this.first++
  }
}
