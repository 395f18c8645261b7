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

export const CHANNEL = 'tollgate_changes';
/** How long a committed change waits for every process to have heard it before answering anyway. */
const ECHO_TIMEOUT_MS = 500;
/** How long an announcement may stay unawaited (its transaction still running) before it is let go. */
const UNAWAITED_MS = 60_000;
const KINDS = new Set(['tenant', 'user', 'member', 'api_key', 'service_key', 'all']);

/** An announcement of this process's, until every listener has heard it or nobody waits for that any more. */
interface Hearing {
  /** Listeners known to have heard it: this process by its echo, each other by its acknowledgement. */
  heard: number;
  /** How many must have (the listeners counted after commit); unknown until then. */
  needed: number;
  allHeard: Promise<void>;
  done: () => void;
}

/**
 * Carries invalidations to every process sharing the database (LISTEN/NOTIFY).
 * A change is announced inside the transaction that makes it, so other processes hear
 * of it exactly when it commits and never hear of a rollback. After commit the process
 * that made it forgets at once, then waits (briefly) until every process listening has
 * heard it: its own announcement coming back, and an acknowledgement from each other
 * process, sent once that process has forgotten. PostgreSQL hands a notification to
 * every listening backend at commit, but each backend passes it on to its process when
 * it gets to it, so the echo alone does not say the others have it (a CI run saw another
 * process answer from its stale memory after the echo). So by the time the change is
 * answered, a client's next request, wherever it lands, sees the change; a process that
 * does not acknowledge in ECHO_TIMEOUT_MS (stuck, or dying) is not waited for longer.
 */
export class ChangeFeed {
  private readonly handlers = new Set<ChangeHandler>();
  private unlisten: (() => Promise<void>) | undefined;
  /** This process's announcements by nonce, and the nonces announced for each change. */
  private readonly hearings = new Map<string, Hearing>();
  private readonly announced = new Map<string, Set<string>>();

  constructor(
    private readonly database: Database,
    private readonly onBadPayload: (payload: string) => void = () => undefined,
    private readonly onAcknowledgeFailed: (error: unknown) => void = () => undefined,
  ) {}

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
   * process forgets the change and waits until every listener has heard it. Forgotten on
   * failure too (harmless), without waiting: a rolled-back announcement is never heard.
   */
  async commit<T>(change: Change, work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await work();
    } catch (error) {
      this.deliver(change);
      this.drop(keyOf(change));
      throw error;
    }
    this.deliver(change);
    await this.heardEverywhere(change);
    return result;
  }

  /** Inside the transaction of the change (within commit()): other processes hear it at commit. */
  async announce(tx: Executor, change: Change): Promise<void> {
    await this.database.notify(CHANNEL, JSON.stringify({ ...change, echo: this.expectHearing(change) }), tx);
  }

  /** After the commit of a change made elsewhere (post-commit hooks): forget here, then tell the others. */
  async publish(change: Change): Promise<void> {
    this.deliver(change);
    await this.database.notify(CHANNEL, JSON.stringify({ ...change, echo: this.expectHearing(change) }));
    await this.heardEverywhere(change);
  }

  /** Forget in this process only (tests, and state this process alone holds). */
  forget(change: Change): void {
    this.deliver(change);
  }

  private expectHearing(change: Change): string {
    const nonce = randomUUID();
    let done!: () => void;
    const allHeard = new Promise<void>((resolve) => { done = resolve; });
    this.hearings.set(nonce, { heard: 0, needed: Infinity, allHeard, done });
    const key = keyOf(change);
    this.announced.set(key, (this.announced.get(key) ?? new Set()).add(nonce));
    // An announcement nobody awaits (made in a transaction outside commit()) leaves nothing
    // behind: still listed under its change when the time is up, it was never awaited.
    setTimeout(() => {
      const nonces = this.announced.get(key);
      if (!nonces?.delete(nonce)) return;
      this.hearings.delete(nonce);
      if (nonces.size === 0) this.announced.delete(key);
    }, UNAWAITED_MS).unref();
    return nonce;
  }

  private async heardEverywhere(change: Change): Promise<void> {
    const key = keyOf(change);
    const nonces = this.announced.get(key);
    if (!nonces) return;
    this.announced.delete(key);
    const hearings = [...nonces].flatMap((nonce) => this.hearings.get(nonce) ?? []);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, ECHO_TIMEOUT_MS); });
    const counted = this.database.listeners(CHANNEL).catch(() => 1).then((listeners) => {
      for (const hearing of hearings) {
        hearing.needed = Math.max(1, listeners);
        if (hearing.heard >= hearing.needed) hearing.done();
      }
      return Promise.all(hearings.map((h) => h.allHeard));
    });
    await Promise.race([counted, timeout]);
    clearTimeout(timer);
    for (const nonce of nonces) this.hearings.delete(nonce);
    // Let notifications that arrived with the last acknowledgement (other listeners in this process) be handled first.
    await new Promise((resolve) => setImmediate(resolve));
  }

  private receive(payload: string): void {
    let parsed: { kind: string; echo?: unknown } | undefined;
    try {
      const value = JSON.parse(payload) as { kind?: unknown };
      if (typeof value?.kind === 'string' && (KINDS.has(value.kind) || value.kind === 'ack')) parsed = value as { kind: string; echo?: unknown };
    } catch {
      parsed = undefined;
    }
    if (!parsed || (parsed.kind === 'ack' && typeof parsed.echo !== 'string')) return this.onBadPayload(payload);
    const { echo, ...change } = parsed;
    if (change.kind === 'ack') return this.heard(echo as string);
    this.deliver(change as Change);
    if (typeof echo !== 'string') return;
    if (this.hearings.has(echo)) return this.heard(echo);
    // Another process's change, forgotten here just now: tell it so.
    this.database.notify(CHANNEL, JSON.stringify({ kind: 'ack', echo })).catch(this.onAcknowledgeFailed);
  }

  private heard(nonce: string): void {
    const hearing = this.hearings.get(nonce);
    if (!hearing) return;
    hearing.heard++;
    if (hearing.heard >= hearing.needed) hearing.done();
  }

  /** A rolled-back change's announcements: never heard, never awaited. */
  private drop(key: string): void {
    for (const nonce of this.announced.get(key) ?? []) this.hearings.delete(nonce);
    this.announced.delete(key);
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
