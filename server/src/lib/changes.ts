import { randomUUID } from 'node:crypto';
import type { Database, Executor } from '../db/client.js';

/** A change that cached credential or tenant state must forget at once. `all`: resynchronise everything. */
export type Change =
  | { kind: 'tenant'; id: string }
  | { kind: 'user'; id: string }
  | { kind: 'member'; tenantId: string; userId: string }
  | { kind: 'api_key'; id: string }
  | { kind: 'service_key'; id: string }
  | { kind: 'all' };

export type ChangeHandler = (change: Change) => void;

const CHANNEL = 'tollgate_changes';
/** How long a committed change waits for its own notification before answering anyway. */
const ECHO_TIMEOUT_MS = 500;
const KINDS = new Set(['tenant', 'user', 'member', 'api_key', 'service_key', 'all']);

/**
 * Carries invalidations to every process sharing the database (LISTEN/NOTIFY).
 * A change is announced inside the transaction that makes it, so other processes hear
 * of it exactly when it commits and never hear of a rollback. After commit the process
 * that made it forgets at once, then waits (briefly) until its own notification comes
 * back: PostgreSQL hands a notification to every listener at commit, so by the time
 * the change is answered the other processes have it too, and a client's next request,
 * wherever it lands, sees the change.
 */
export class ChangeFeed {
  private readonly handlers = new Set<ChangeHandler>();
  private unlisten: (() => Promise<void>) | undefined;
  /** Echoes awaited, by change: each announcement's nonce → its arrival. */
  private readonly echoes = new Map<string, Map<string, { arrived: Promise<void>; resolve: () => void }>>();

  constructor(private readonly database: Database, private readonly onBadPayload: (payload: string) => void = () => undefined) {}

  subscribe(handler: ChangeHandler): void {
    this.handlers.add(handler);
  }

  async start(): Promise<void> {
    // (Re)connecting may have missed notifications: drop everything cached then.
    this.unlisten = await this.database.listen(CHANNEL, (payload) => this.receive(payload), () => this.deliver({ kind: 'all' }));
  }

  async stop(): Promise<void> {
    await this.unlisten?.();
    this.unlisten = undefined;
  }

  /**
   * Runs `work`, a transaction that announces `change`; once it has committed, this
   * process forgets the change and waits for the announcement's echo. Forgotten on
   * failure too (harmless), without waiting: a rolled-back announcement never echoes.
   */
  async commit<T>(change: Change, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.deliver(change);
      this.echoes.delete(keyOf(change));
      throw error;
    }
    this.deliver(change);
    await this.echoed(change);
    return result;
  }

  /** Inside the transaction of the change (within commit()): other processes hear it at commit. */
  async announce(tx: Executor, change: Change): Promise<void> {
    await this.database.notify(CHANNEL, JSON.stringify({ ...change, echo: this.expectEcho(change) }), tx);
  }

  /** After the commit of a change made elsewhere (post-commit hooks): forget here, then tell the others. */
  async publish(change: Change): Promise<void> {
    this.deliver(change);
    await this.database.notify(CHANNEL, JSON.stringify({ ...change, echo: this.expectEcho(change) }));
    await this.echoed(change);
  }

  /** Forget in this process only (tests, and state this process alone holds). */
  forget(change: Change): void {
    this.deliver(change);
  }

  private expectEcho(change: Change): string {
    const nonce = randomUUID();
    let resolve!: () => void;
    const arrived = new Promise<void>((r) => { resolve = r; });
    const key = keyOf(change);
    const waiting = this.echoes.get(key) ?? new Map();
    this.echoes.set(key, waiting.set(nonce, { arrived, resolve }));
    return nonce;
  }

  private async echoed(change: Change): Promise<void> {
    const key = keyOf(change);
    const waiting = this.echoes.get(key);
    if (!waiting) return;
    this.echoes.delete(key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ECHO_TIMEOUT_MS); });
    await Promise.race([Promise.all([...waiting.values()].map((w) => w.arrived)), timeout]);
    clearTimeout(timer);
    // Let notifications that arrived with the echo (other listeners in this process) be handled first.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private receive(payload: string): void {
    let parsed: (Change & { echo?: unknown }) | undefined;
    try {
      const value = JSON.parse(payload) as { kind?: unknown };
      if (typeof value?.kind === 'string' && KINDS.has(value.kind)) parsed = value as Change & { echo?: unknown };
    } catch {
      parsed = undefined;
    }
    if (!parsed) return this.onBadPayload(payload);
    const { echo, ...change } = parsed;
    this.deliver(change as Change);
    if (typeof echo === 'string') this.echoArrived(keyOf(change as Change), echo);
  }

  /** An echo that arrived is awaited by nobody any more: an announcement never awaited (no commit()) leaves nothing behind. */
  private echoArrived(key: string, nonce: string): void {
    const waiting = this.echoes.get(key);
    const echo = waiting?.get(nonce);
    if (!waiting || !echo) return;
    echo.resolve();
    waiting.delete(nonce);
    if (waiting.size === 0) this.echoes.delete(key);
  }

  private deliver(change: Change): void {
    for (const handler of this.handlers) handler(change);
  }
}

function keyOf(change: Change): string {
  switch (change.kind) {
    case 'member': return `member:${change.tenantId}:${change.userId}`;
    case 'all': return 'all';
    default: return `${change.kind}:${change.id}`;
  }
}
