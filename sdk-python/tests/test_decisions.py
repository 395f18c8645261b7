"""authorize(), settle() and release() against a real Tollgate."""

import unittest

from tollgate import Client, DenialCode, NotFound

from .tollgate_server import ServerTestCase


class DecisionTest(ServerTestCase):
    def test_an_allowed_decision_reserves_and_counts(self) -> None:
        decision = self.tg.authorize("content_generation", quantity={"words": 1200})

        self.assertTrue(decision.allowed)
        self.assertIs(decision.code, DenialCode.OK)
        self.assertTrue(decision.decision_id.startswith("dec_"))
        self.assertTrue(decision.reservation_id and decision.reservation_id.startswith("res_"))
        self.assertEqual(decision.reserved_credits, 12)
        self.assertEqual(decision.tenant_id, self.owner.tenant_id)
        runs = decision.limit("runs")
        assert runs is not None
        self.assertEqual((runs.used, runs.limit, runs.remaining), (1, 10, 9))
        self.assertEqual(decision.credits and decision.credits.reserved, 12)
        self.assertEqual(decision.route["provider"], "default")
        self.assertTrue(decision.request_id and decision.request_id.startswith("req_"))
        self.assertEqual(decision.raw["decisionId"], decision.decision_id)
        self.assertIsNone(decision.bypass)

    def test_settle_charges_the_reported_quantity_and_release_charges_nothing(self) -> None:
        first = self.tg.authorize("content_generation", quantity={"words": 1200})
        second = self.tg.authorize("clustering")

        settled = self.tg.settle(first.reservation_id or "", quantity={"words": 900})
        released = self.tg.release(second.reservation_id or "")

        self.assertEqual((settled.status, settled.held, settled.charged), ("settled", 12, 9))
        self.assertEqual((released.status, released.charged), ("released", 0))
        self.assertEqual(self.tg.credits(self.owner.tenant_id).balance, 1000 - 9)
        self.assertEqual(self.tg.credits(self.owner.tenant_id).reserved, 0)

    def test_settle_and_release_are_idempotent(self) -> None:
        decision = self.tg.authorize("clustering")
        first = self.tg.settle(decision.reservation_id or "", credits=4)
        again = self.tg.settle(decision.reservation_id or "", credits=4)

        self.assertFalse(first.replayed)
        self.assertTrue(again.replayed)
        self.assertEqual(self.tg.credits(self.owner.tenant_id).balance, 1000 - 4)

    def test_a_refusal_is_a_decision_and_consumes_nothing(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, limits={"runs": 1})
        self.tg.release(self.tg.authorize("clustering").reservation_id or "")
        before = self.tg.usage(self.owner.tenant_id)

        refused = self.tg.authorize("clustering")

        self.assertFalse(refused.allowed)
        self.assertIs(refused.code, DenialCode.LIMIT_EXCEEDED)
        self.assertIsNone(refused.reservation_id)
        self.assertEqual(self.tg.usage(self.owner.tenant_id).meter("runs"), before.meter("runs"))
        self.assertEqual(self.tg.credits(self.owner.tenant_id).available, 1000)

    def test_denial_codes_for_a_switched_off_module_and_too_few_credits(self) -> None:
        self.fx.as_user(self.owner).request("PUT", f"/v1/tenants/{self.owner.tenant_id}/modules/planner", json={"enabled": False})

        self.assertIs(self.tg.authorize("clustering").code, DenialCode.MODULE_DISABLED)
        self.assertIs(self.tg.authorize("content_generation", quantity={"words": 1_000_000}).code, DenialCode.INSUFFICIENT_CREDITS)

    def test_a_rate_limited_decision_says_when_to_come_back(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, plan="hourly")
        self.tg.authorize("clustering")

        refused = self.tg.authorize("clustering")

        self.assertIs(refused.code, DenialCode.RATE_LIMITED)
        self.assertIsNotNone(refused.retry_after_ms)
        self.assertGreater(refused.retry_after_ms or 0, 60_000)

    def test_the_same_idempotency_key_returns_the_first_decision_and_consumes_once(self) -> None:
        first = self.tg.authorize("clustering", idempotency_key="job-42")
        again = self.tg.authorize("clustering", idempotency_key="job-42")

        self.assertEqual(again.decision_id, first.decision_id)
        self.assertEqual(again.reservation_id, first.reservation_id)
        self.assertTrue(again.replayed)
        self.assertEqual(again.idempotency_key, "job-42")
        self.assertEqual((self.tg.usage(self.owner.tenant_id).meter("runs") or self.fail()).used, 1)

    def test_without_a_key_each_call_is_its_own_decision(self) -> None:
        first = self.tg.authorize("clustering")
        second = self.tg.authorize("clustering")

        self.assertNotEqual(first.idempotency_key, second.idempotency_key)
        self.assertNotEqual(first.reservation_id, second.reservation_id)
        self.assertEqual((self.tg.usage(self.owner.tenant_id).meter("runs") or self.fail()).used, 2)


class ActingForMembersTest(ServerTestCase):
    """A service key acting for members, and a user token naming its tenant: the headers reach every call."""

    def test_the_owner_passes_a_full_run_limit_as_a_bypass_and_a_member_does_not(self) -> None:
        owner, member = self.fx.signup("owner"), self.fx.signup("member")
        self.fx.join(owner, member)
        self.fx.patch_tenant(owner.tenant_id, limits={"runs": 1})
        backend = Client(self.fx.url, api_key=self.fx.service_key())
        first = backend.authorize("clustering", on_behalf_of=(owner.tenant_id, member.user_id))
        backend.settle(first.reservation_id or "", on_behalf_of=(owner.tenant_id, member.user_id))

        refused = backend.authorize("clustering", on_behalf_of=(owner.tenant_id, member.user_id))
        bypassed = backend.authorize("clustering", on_behalf_of=(owner.tenant_id, owner.user_id))

        self.assertIs(refused.code, DenialCode.LIMIT_EXCEEDED)
        self.assertTrue(bypassed.allowed)
        self.assertEqual((bypassed.bypass and bypassed.bypass.reason, bypassed.bypass and bypassed.bypass.meter), ("owner", "runs"))
        events = backend.usage_events(owner.tenant_id, on_behalf_of=(owner.tenant_id, owner.user_id)).items
        self.assertEqual([event["bypass"] for event in events], [True, False])

    def test_a_user_token_decides_in_the_tenant_it_names(self) -> None:
        owner, member = self.fx.signup("owner"), self.fx.signup("member")
        self.fx.join(owner, member)
        as_member = self.fx.as_user(member)

        decision = as_member.authorize("clustering", tenant_id=owner.tenant_id)
        settled = as_member.settle(decision.reservation_id or "", credits=3, tenant_id=owner.tenant_id)

        self.assertEqual(decision.tenant_id, owner.tenant_id)
        self.assertEqual(settled.charged, 3)
        self.assertEqual(as_member.credits(owner.tenant_id).balance, 1000 - 3)
        self.assertEqual(as_member.credits(member.tenant_id).balance, 1000)


class ReadsTest(ServerTestCase):
    def test_cost_preview_usage_and_ledger(self) -> None:
        owner, tg = self.owner, self.tg
        tg.settle(tg.authorize("clustering").reservation_id or "")

        preview = tg.preview_cost("content_generation", quantity={"words": 250})
        usage = tg.usage(owner.tenant_id)
        ledger = tg.ledger(owner.tenant_id, limit=1)

        self.assertEqual((preview.operation, preview.credits, preview.module), ("content_generation", 3, "writer"))
        self.assertEqual((usage.meter("runs") or self.fail()).used, 1)
        self.assertEqual((usage.active_runs, usage.concurrent_runs_limit), (0, 5))
        self.assertEqual([entry["kind"] for entry in ledger.items], ["settle"])
        self.assertIsNotNone(ledger.next_cursor)
        rest = tg.ledger(owner.tenant_id, cursor=ledger.next_cursor)
        self.assertEqual([entry["kind"] for entry in rest.items], ["grant"])
        self.assertIsNone(rest.next_cursor)

    def test_the_cost_preview_prices_the_tenant_named_by_tenant_id_or_on_behalf_of(self) -> None:
        owner, member, stranger = self.owner, self.fx.signup("member"), self.fx.signup("stranger")
        self.fx.join(owner, member)
        backend = Client(self.fx.url, api_key=self.fx.service_key())

        # The route is the acting tenant's; a credential that implies none gets the platform's price
        # without one; a tenant named that the caller may not use is the 404 of a missing one, as on authorize.
        acting = backend.preview_cost("clustering", on_behalf_of=(owner.tenant_id, owner.user_id))
        named = self.fx.as_user(member).preview_cost("clustering", tenant_id=owner.tenant_id)
        unnamed = backend.preview_cost("clustering")
        with self.assertRaises(NotFound) as outsider:
            self.fx.as_user(stranger).preview_cost("clustering", tenant_id=owner.tenant_id)

        self.assertEqual([preview.credits for preview in (acting, named, unnamed)], [10, 10, 10])
        self.assertEqual((acting.raw["route"] or {}).get("provider"), "default")
        self.assertEqual((named.raw["route"] or {}).get("provider"), "default")
        self.assertIsNone(unnamed.raw["route"])
        self.assertEqual(outsider.exception.code, "TENANT_NOT_FOUND")


if __name__ == "__main__":
    unittest.main()
