/**
 * Model names are matched against plan and price patterns such as `bedrock/*`:
 * `*` is any run of characters (slashes included), `?` one character, the rest literal.
 *
 * Matched in a single pass with one backtrack point (the last `*`): at most
 * pattern × value steps. Patterns are the tenants' own (their routes' models), matched on
 * every decision against a model the caller names; a regular expression built from them
 * backtracks exponentially (`*a*a*a*a*b` against 200 a's held the event loop for minutes).
 */
export function globMatch(pattern: string, value: string): boolean {
  let p = 0;
  let v = 0;
  let star = -1;
  let resumeAt = 0;
  while (v < value.length) {
    const c = pattern[p];
    if (c === '*') {
      star = p++;
      resumeAt = v;
    } else if (c !== undefined && (c === '?' || c === value[v])) {
      p++;
      v++;
    } else if (star >= 0) {
      // Let the last `*` take one more character, and match the rest again from there.
      p = star + 1;
      v = ++resumeAt;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

export function anyGlobMatch(patterns: readonly string[], value: string): boolean {
  return patterns.some((p) => globMatch(p, value));
}
