// The package ships no types; only what db/data-dir-lock.ts uses is declared.
declare module 'fs-native-extensions' {
  /** An exclusive (or shared) lock on an open file description: false when another holds it. Released when the descriptor closes or the process ends. */
  export function tryLock(fd: number, options?: { shared?: boolean }): boolean;
  export function unlock(fd: number): void;
}
