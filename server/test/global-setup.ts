/** Says which database the suite runs on, so a skipped PostgreSQL run is never silent. */
export default function setup(): void {
  if (process.env.DATABASE_URL) {
    console.log(`\n[tollgate] database: PostgreSQL (${new URL(process.env.DATABASE_URL).host}); each suite gets a fresh database\n`);
  } else {
    console.log('\n[tollgate] database: embedded PGlite. PostgreSQL-only suites (real pool, two processes, role checks) are SKIPPED; set DATABASE_URL to run them.\n');
  }
}
