/** A promise a test opens by hand: handlers `await gate.wait` until the test calls `gate.open()`. */
export interface Gate {
  readonly wait: Promise<void>
  open(): void
}

/** Makes a closed gate. */
export function gate(): Gate {
  let open!: () => void
  const wait = new Promise<void>((resolve) => (open = resolve))
  return { wait, open }
}
