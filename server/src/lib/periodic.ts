/**
 * Runs a background task on an interval (without keeping the process alive) and once
 * more when stopped, so buffered writes are not lost on shutdown. A tick that finds the
 * previous run still going is skipped, and stop() waits for a run in progress.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly task: () => Promise<void>, private readonly onError: (error: unknown) => void) {}

  start(intervalMs: number): void {
    this.timer ??= setInterval(() => {
      if (this.running) return;
      this.running = this.task().catch(this.onError).finally(() => { this.running = undefined; });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the interval and waits for a run in progress; `final` runs the task one last time (a flush). */
  async stop(final = true): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
    if (final) await this.task();
  }
}
