/**
 * Model names are matched against plan and price patterns such as `bedrock/*`:
 * `*` is any run of characters (slashes included), `?` one character, the rest literal.
 */
export function globMatch(pattern: string, value: string): boolean {
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  return new RegExp(`^${source}$`, 's').test(value);
}

export function anyGlobMatch(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => globMatch(p, value));
}
