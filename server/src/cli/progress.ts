/** A step of a command's start (opening storage, each migration), for the person watching: one plain line on stdout. */
export function progress(line: string): void {
  console.log(`tollgate: ${line}`);
}
