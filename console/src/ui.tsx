/** The few building blocks every page uses: loading a call's answer, errors, tables, forms. */
import { TollgateError } from '@tollgate/sdk';
import { cloneElement, useCallback, useEffect, useId, useState, type FormEvent, type ReactElement, type ReactNode } from 'react';

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change or `reload()` is called; the latest answer wins. */
export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  const run = useCallback(load, deps);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ ...previous, loading: true }));
    run().then((data) => { if (current) setState({ data, loading: false }); }, (error: unknown) => { if (current) setState({ error, loading: false }); });
    return () => { current = false; };
  }, [run, round]);
  return { data: state.data, error: state.error, loading: state.loading, reload: () => setRound((n) => n + 1) };
}

/** What went wrong, as the server said it: code, message and request id (to quote to whoever runs the server). */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof TollgateError) {
    return (
      <div className="error" role="alert">
        <strong>{error.code}</strong> {error.message}
        {error.requestId ? <span className="muted"> (request {error.requestId})</span> : null}
      </div>
    );
  }
  return <div className="error" role="alert">{error instanceof Error ? error.message : String(error)}</div>;
}

/** A section whose content is a loaded answer: a spinner line, the error, or the content. */
export function Section<T>({ title, loaded, children, actions }: { title: string; loaded?: Loaded<T>; children: (data: T) => ReactNode; actions?: ReactNode }) {
  const id = title.toLowerCase().replace(/[^a-z0-9]+/g, '-');
  return (
    <section aria-labelledby={id} data-section={id}>
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {loaded?.error ? <ErrorBox error={loaded.error} /> : null}
      {loaded && loaded.data === undefined && !loaded.error ? <p className="muted">Loading…</p> : null}
      {loaded?.data !== undefined ? children(loaded.data) : null}
    </section>
  );
}

export interface Column<T> {
  title: string;
  cell: (row: T) => ReactNode;
}

export function Table<T>({ rows, columns, empty, rowKey }: { rows: T[]; columns: Column<T>[]; empty: string; rowKey: (row: T) => string }) {
  if (rows.length === 0) return <p className="muted">{empty}</p>;
  return (
    <table>
      <thead><tr>{columns.map((column) => <th key={column.title}>{column.title}</th>)}</tr></thead>
      <tbody>
        {rows.map((row) => <tr key={rowKey(row)}>{columns.map((column) => <td key={column.title}>{column.cell(row)}</td>)}</tr>)}
      </tbody>
    </table>
  );
}

/** Definition list of label → value; null and undefined show as a dash. */
export function Fields({ fields }: { fields: [string, ReactNode][] }) {
  return (
    <dl className="fields">
      {fields.map(([label, value]) => (
        <div key={label}><dt>{label}</dt><dd>{value === null || value === undefined || value === '' ? '—' : value}</dd></div>
      ))}
    </dl>
  );
}

/**
 * A form whose submission is one call: the button is disabled while it runs, the error
 * is shown under it, and `done` runs after it succeeded (typically a reload).
 */
export function ActionForm({ label, submit, children, done, className }: {
  label: string; submit: () => Promise<unknown>; children?: ReactNode; done?: () => void; className?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const onSubmit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await submit();
      done?.();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={onSubmit} className={className ?? 'action'} aria-label={label}>
      {children}
      <button type="submit" disabled={busy}>{label}</button>
      <ErrorBox error={error} />
    </form>
  );
}

/** A labelled input: the label names the control alone (not the options of a select within it). */
export function Field({ label, children }: { label: string; children: ReactElement<{ id?: string }> }) {
  const id = useId();
  return <div className="field"><label htmlFor={id}>{label}</label>{cloneElement(children, { id })}</div>;
}

/** Copies `text`; the clipboard needs a secure context (https or localhost), elsewhere the text beside it stays selectable. */
export function CopyButton({ text }: { text: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    await navigator.clipboard?.writeText(text).catch(() => undefined);
    setCopied(true);
  };
  return <button type="button" onClick={copy}>{copied ? 'Copied' : 'Copy'}</button>;
}

/** A secret the server shows once (a new API key, an invitation token): shown until dismissed, with a copy button; `children` say more about it. */
export function ShowOnce({ title, secret, onDismiss, children }: { title: string; secret: string; onDismiss: () => void; children?: ReactNode }) {
  return (
    <div className="show-once" role="status">
      <p><strong>{title}</strong> — shown this once only: copy it now, it cannot be read again.</p>
      <code data-testid="secret">{secret}</code>
      {children}
      <div className="row">
        <CopyButton key={secret} text={secret} />
        <button type="button" onClick={onDismiss}>I have stored it</button>
      </div>
    </div>
  );
}

export function when(value: string | null | undefined): string {
  if (!value) return '—';
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? value : date.toISOString().replace('T', ' ').slice(0, 16);
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`badge badge-${status.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`}>{status}</span>;
}

/** An amount in the currency's minor unit, written in its major unit (4900 EUR → €49.00). */
export function money(amount: number, currency: string): string {
  try {
    const format = new Intl.NumberFormat('en', { style: 'currency', currency });
    return format.format(amount / 10 ** (format.resolvedOptions().maximumFractionDigits ?? 2));
  } catch {
    return `${amount} ${currency} (minor unit)`;
  }
}
