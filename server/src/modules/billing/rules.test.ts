import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setSubscription } from '../../../test/billing.js';
import { startTestApp, type TestApp } from '../../../test/harness.js';
import { inSystem } from '../../db/scope.js';
import { ENDS_ITS_OWN_PERIOD, KEPT_BY_PROVIDER, PAID_BY_TOLLGATE, RENEWS_ITSELF } from './repo.js';
import { endsItsOwnPeriod, keptByProvider, paidByTollgate, renewsItself } from './service.js';
import { PAYMENT_METHODS, SUBSCRIPTION_STATUSES, subscriptions, type PaymentMethod, type SubscriptionStatus } from './tables.js';

/**
 * The billing rules live twice by design: TypeScript for a row in hand (the lifecycle's
 * actions, the lazy period roll) and SQL for the sweepers' scans. Both spellings of each
 * must answer alike for every row a subscription can be, or the sweeper and the request
 * path would disagree on whose a subscription is.
 */
let t: TestApp;
beforeAll(async () => { t = await startTestApp(); });
afterAll(async () => { await t.close(); });

describe('billing rules: the TypeScript and SQL twins agree on every row', () => {
  it('keptByProvider, endsItsOwnPeriod, renewsItself and paidByTollgate, over status × method × provider id × cancel at period end', async () => {
    const { tenantId } = await t.signup();
    const methods: (PaymentMethod | null)[] = [null, ...PAYMENT_METHODS];
    let compared = 0;
    for (const status of SUBSCRIPTION_STATUSES) {
      for (const paymentMethod of methods) {
        for (const providerSubscriptionId of [null, 'sub_twin']) {
          for (const cancelAtPeriodEnd of [false, true]) {
            const row = { status: status as SubscriptionStatus, paymentMethod, providerSubscriptionId, cancelAtPeriodEnd };
            await setSubscription(t, tenantId, {
              status, payment_method: paymentMethod, provider_subscription_id: providerSubscriptionId, cancel_at_period_end: cancelAtPeriodEnd,
            });
            const [inSql] = await inSystem(t.deps.database.db, (tx) => tx
              .select({ kept: KEPT_BY_PROVIDER, ends: ENDS_ITS_OWN_PERIOD, renews: RENEWS_ITSELF, paid: PAID_BY_TOLLGATE })
              .from(subscriptions).where(eq(subscriptions.tenantId, tenantId)));
            expect({ row, ...inSql }).toEqual({ row, kept: keptByProvider(row), ends: endsItsOwnPeriod(row), renews: renewsItself(row), paid: paidByTollgate(row) });
            compared++;
          }
        }
      }
    }
    expect(compared).toBe(SUBSCRIPTION_STATUSES.length * methods.length * 2 * 2);
  });
});
