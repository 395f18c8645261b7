import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../db/client.js';
import { APP_ROLE, createTestDatabase, onPostgres, type TestDatabase } from '../../test/harness.js';
import { cuttableRelay, type CuttableRelay } from '../../test/tcp-relay.js';
import { CHANNEL, ChangeFeed, type Change } from './changes.js';

/**
 * Two processes' feeds over one database, the other's connections through a relay that
 * can hold back what PostgreSQL sends it: its notifications arriving late, as a busy
 * backend or process delivers them.
 */
describe.skipIf(!onPostgres)('a committed change is answered once every process has heard it (PostgreSQL)', () => {
  let db: TestDatabase;
  let relay: CuttableRelay;
  let otherDatabase: Database;
  let here: ChangeFeed;
  let there: ChangeFeed;
  const heardHere: Change[] = [];
  const heardThere: Change[] = [];

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
    relay = await cuttableRelay(db.url!);
    otherDatabase = await openDatabase({ url: relay.url, appRole: APP_ROLE, migrate: false, poolSize: 2 });
    here = new ChangeFeed(db.database);
    there = new ChangeFeed(otherDatabase);
    here.subscribe((change) => heardHere.push(change));
    there.subscribe((change) => heardThere.push(change));
    await here.start();
    await there.start();
  });

  afterAll(async () => {
    await here.stop();
    await there.stop();
    await otherDatabase.close();
    await relay.cut();
    await db.drop();
  });

  const tenant = (id: string): Change => ({ kind: 'tenant', id });
  const commit = (change: Change) => here.commit(change, () => db.database.db.transaction((tx) => here.announce(tx, change)));
  const heard = (changes: Change[], change: Change) => changes.filter((c) => JSON.stringify(c) === JSON.stringify(change)).length;

  it('counts every process listening (read as the app role: the sessions log in as another user)', async () => {
    expect(await db.database.listeners(CHANNEL)).toBe(2);
    expect(await otherDatabase.listeners(CHANNEL)).toBe(2);
  });

  it('waits past its own echo for the other process, whose notification comes late', async () => {
    const change = tenant('ten_late');
    relay.hold();
    // Released the moment this process's own echo is back (its second delivery here): the other has heard nothing yet.
    here.subscribe((c) => { if (heard(heardHere, change) === 2 && JSON.stringify(c) === JSON.stringify(change)) relay.release(); });
    await commit(change);
    expect(heard(heardHere, change)).toBe(2);
    expect(heard(heardThere, change)).toBe(1);
  });

  it('a process that never acknowledges delays an answer, it does not stop it', async () => {
    const change = tenant('ten_silent');
    relay.hold();
    try {
      await commit(change);
      expect(heard(heardThere, change)).toBe(0);
    } finally {
      relay.release();
    }
  });

  it('a rolled-back change is forgotten here and never heard there', async () => {
    const change = tenant('ten_rolled_back');
    await expect(here.commit(change, () => db.database.db.transaction(async (tx) => {
      await here.announce(tx, change);
      throw new Error('rolled back');
    }))).rejects.toThrow('rolled back');
    expect(heard(heardHere, change)).toBe(1);
    // A change committed after it reaches the other process; the rolled-back one never did.
    await commit(tenant('ten_after'));
    expect(heard(heardThere, tenant('ten_after'))).toBe(1);
    expect(heard(heardThere, change)).toBe(0);
  });
});
