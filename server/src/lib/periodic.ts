/**
 * Runs a background task on an interval (without keeping the process alive) and once
 * more when stopped, so buffered writes are not lost on shutdown.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly task: () => Promise<void>, private readonly onError: (error: unknown) => void) {}

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => { void this.task().catch(this.onError); }, intervalMs);
    this.timer.unref();
  }

  /** Stops the interval; `final` runs the task one last time (a flush). */
  async stop(final = true): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (final) await this.task();
  }
}
