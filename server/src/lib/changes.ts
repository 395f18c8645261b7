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
const KINDS = new Set(['tenant', 'user', 'member', 'api_key', 'service_key', 'all']);

/**
 * Carries invalidations to every process sharing the database (LISTEN/NOTIFY).
 * A change is announced inside the transaction that makes it, so other processes hear
 * of it exactly when it commits; the process that made it forgets right after commit,
 * without waiting for its own notification, so its very next request already sees it.
 */
export class ChangeFeed {
  private readonly handlers = new Set<ChangeHandler>();
  private unlisten: (() => Promise<void>) | undefined;

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

  /** Inside the transaction of the change: other processes hear it at commit, never on rollback. */
  async announce(tx: Executor, change: Change): Promise<void> {
    await this.database.notify(CHANNEL, JSON.stringify(change), tx);
  }

  /** After commit, in the process that made the change. */
  forget(change: Change): void {
    this.deliver(change);
  }

  /** For changes already committed (post-commit hooks): forget here, then tell the others. */
  async publish(change: Change): Promise<void> {
    this.deliver(change);
    await this.database.notify(CHANNEL, JSON.stringify(change));
  }

  private receive(payload: string): void {
    let change: Change | undefined;
    try {
      const parsed = JSON.parse(payload) as { kind?: unknown };
      if (typeof parsed?.kind === 'string' && KINDS.has(parsed.kind)) change = parsed as Change;
    } catch {
      change = undefined;
    }
    if (change) this.deliver(change);
    else this.onBadPayload(payload);
  }

  private deliver(change: Change): void {
    for (const handler of this.handlers) handler(change);
  }
}
