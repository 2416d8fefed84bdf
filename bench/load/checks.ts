/** Counts failed checks of replies and pushes; a run with any failure is reported as untrusted. */
export class Checks {
  failures = 0
  readonly samples: string[] = []

  /** Records one failed check, keeping the first few descriptions. */
  fail(what: string): void {
    this.failures++
    if (this.samples.length < 5) this.samples.push(what)
  }
}

/** A short printable form of a frame for failure descriptions. */
export function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value)
  return text.length > 160 ? `${text.slice(0, 157)}...` : text
}
