import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StartError } from '../lib/errors.js';

const MIGRATIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'migrations');
/** SQL functions (and their triggers), one file each: their live text is the file's text. */
const FUNCTIONS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'functions');

/** Tables the server may only read and append to: their history is the product. */
export const APPEND_ONLY_TABLES = ['audit_log', 'credit_ledger', 'usage_events', 'decision_log', 'usage_records'] as const;

/**
 * Tables of records the server appends and then only resolves: it may update the columns
 * named, never the others, and delete nothing. A reservation is its decision's record
 * (0019: who decided, what, when, on which route); settling, releasing, expiring and
 * refunding it write its outcome alone (credits/repo.ts).
 */
export const RESOLVED_ONLY_COLUMNS = {
  credit_reservations: ['status', 'charged', 'resolved_at', 'refunded'],
} as const;

export interface MigrationTarget {
  kind: 'pglite' | 'postgres';
  exec(text: string): Promise<void>;
  query(text: string): Promise<Record<string, unknown>[]>;
}

export function migrationFiles(): string[] {
  return readdirSync(MIGRATIONS_DIR).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
}

export function functionFiles(): string[] {
  return readdirSync(FUNCTIONS_DIR).filter((f) => /^[a-z0-9_-]+\.sql$/.test(f)).sort();
}

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory
 * lock so several processes starting at once migrate once; then the SQL function files
 * (CREATE OR REPLACE), so the live functions are the files' text; then (re)applies the
 * grants of the server's role, so every table a migration adds is covered. Numbered
 * migrations change tables and data only.
 *
 * A database that a newer release has migrated (it holds migrations this release does
 * not have) is refused before anything is written: this release would put its own SQL
 * functions back over the newer release's, on tables they were not written for — the
 * decision's functions change between releases, arguments and all.
 */
export async function migrate(target: MigrationTarget, appRole: string, options: {
  /** Stop after this migration and apply no SQL function file: a database as an older release left it (tests). */
  through?: string;
  /** Told how many migrations are pending and each as it is applied, for a person watching a start. */
  onProgress?: ((line: string) => void) | undefined;
} = {}): Promise<string[]> {
  const applied: string[] = [];
  await target.exec('SELECT pg_advisory_lock(727274)');
  try {
    await target.exec(`CREATE TABLE IF NOT EXISTS tollgate_migrations (
      name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE IF NOT EXISTS tollgate_functions (name text PRIMARY KEY, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await target.query('SELECT name FROM tollgate_migrations')).map((r) => String(r.name)));
    const files = migrationFiles();
    const newer = [...done].filter((name) => !files.includes(name)).sort();
    if (newer.length > 0) throw new StartError(newerReleaseMessage(newer));
    const pending = files.filter((file) => !done.has(file) && (options.through === undefined || file <= options.through));
    options.onProgress?.(pending.length === 0 ? 'migrations: up to date' : `migrations: ${pending.length} to apply`);
    for (const [i, file] of pending.entries()) {
      options.onProgress?.(`migrations: ${i + 1} of ${pending.length} (${file})`);
      const text = readFileSync(join(MIGRATIONS_DIR, file), 'utf8');
      await target.exec(`BEGIN;\n${text}\n;INSERT INTO tollgate_migrations (name) VALUES ('${file}');\nCOMMIT;`)
        .catch(async (error: unknown) => {
          await target.exec('ROLLBACK').catch(() => undefined);
          throw new Error(`migration ${file} failed: ${(error as Error).message}`);
        });
      applied.push(file);
    }
    if (options.through === undefined) await applyFunctions(target, applied.length > 0);
    if (appRole) await grantAppRole(target, appRole);
  } finally {
    await target.exec('SELECT pg_advisory_unlock(727274)');
  }
  return applied;
}

function newerReleaseMessage(newer: readonly string[]): string {
  return `the database was migrated by a newer release of Tollgate (${newer.join(', ')} ${newer.length === 1 ? 'is' : 'are'} not in this one); ` +
    'run that release or a later one: an older release never runs on it, nor beside it (README, Upgrading)';
}

/**
 * Applies each function file whose text differs from the one applied last (or every file,
 * after migrations ran: one may have dropped what a file defines), in one transaction.
 */
async function applyFunctions(target: MigrationTarget, afterMigrations: boolean): Promise<void> {
  const known = new Map((await target.query('SELECT name, sha256 FROM tollgate_functions')).map((r) => [String(r.name), String(r.sha256)]));
  for (const file of functionFiles()) {
    const text = readFileSync(join(FUNCTIONS_DIR, file), 'utf8');
    const sha256 = createHash('sha256').update(text).digest('hex');
    if (!afterMigrations && known.get(file) === sha256) continue;
    await target.exec(`BEGIN;\n${text}\n;INSERT INTO tollgate_functions (name, sha256) VALUES ('${file}', '${sha256}')
      ON CONFLICT (name) DO UPDATE SET sha256 = EXCLUDED.sha256, applied_at = now();\nCOMMIT;`)
      .catch(async (error: unknown) => {
        await target.exec('ROLLBACK').catch(() => undefined);
        throw new Error(`SQL functions ${file} failed: ${(error as Error).message}`);
      });
  }
}

async function grantAppRole(target: MigrationTarget, role: string): Promise<void> {
  if (!/^[a-z_][a-z0-9_]*$/.test(role)) throw new Error(`invalid role name: ${role}`);
  // Roles are cluster-wide: parallel test databases may race to create the same one.
  await target.exec(`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN
      CREATE ROLE "${role}" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END $$`);
  const [membership] = await target.query(`SELECT pg_has_role(current_user, '${role}', 'MEMBER') AS member`);
  if (!membership?.member) {
    await target.exec(`DO $$ BEGIN GRANT "${role}" TO CURRENT_USER; EXCEPTION WHEN OTHERS THEN NULL; END $$`);
  }
  // A database stopped at an older migration (tests: `through`) lacks the later append-only tables.
  const existing = new Set((await target.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`)).map((r) => String(r.tablename)));
  await target.exec(`
    GRANT USAGE ON SCHEMA public TO "${role}";
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "${role}";
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "${role}";
    REVOKE INSERT, UPDATE, DELETE ON tollgate_migrations, tollgate_functions FROM "${role}";
    ${APPEND_ONLY_TABLES.filter((t) => existing.has(t)).map((t) => `REVOKE UPDATE, DELETE, TRUNCATE ON ${t} FROM "${role}";`).join('\n')}
    ${Object.entries(RESOLVED_ONLY_COLUMNS).filter(([t]) => existing.has(t)).map(([t, columns]) =>
      `REVOKE UPDATE, DELETE, TRUNCATE ON ${t} FROM "${role}"; GRANT UPDATE (${columns.join(', ')}) ON ${t} TO "${role}";`).join('\n')}
  `);
}
