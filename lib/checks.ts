// Start-up checks of options, shared by the server (`talk()`, resume) and the client (TalkClient).
// Browser-safe: the client bundle includes this file, so it imports nothing.

/** Checks an option that must be a positive, finite number; a TypeError naming `owner` otherwise (default owner `talk()`). */
export function positive(name: string, value: number, owner = 'talk()'): number {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${owner}: ${name} must be a positive number`)
  return value
}

/** Checks an option that must be a positive number or Infinity (no limit); a TypeError naming `owner` otherwise. */
export function positiveOrUnlimited(name: string, value: number, owner = 'talk()'): number {
  return value === Infinity ? value : positive(name, value, owner)
}

/** Checks an option that must be zero or more, and finite; a TypeError naming `owner` otherwise (default owner `talk()`). */
export function nonNegative(name: string, value: number, owner = 'talk()'): number {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${owner}: ${name} must be zero or more`)
  return value
}

/** Checks an option that must be a function when given; a TypeError naming `owner` otherwise. */
export function optionalFunction<F>(name: string, value: F | undefined, owner = 'talk()'): F | undefined {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`${owner}: ${name} must be a function`)
  return value
}
