"""The run() helper against a real Tollgate: refused, settled, released."""

import unittest

from tollgate import Client, Denied, DenialCode

from .tollgate_server import ServerTestCase


class ModelCallFailed(Exception):
    pass


class RunTest(ServerTestCase):
    def balance(self) -> int:
        return self.tg.credits(self.owner.tenant_id).balance

    def test_the_run_settles_what_the_block_reported(self) -> None:
        with self.tg.run("content_generation", quantity={"words": 1200}) as run:
            self.assertEqual(self.tg.credits(self.owner.tenant_id).reserved, 12)
            run.report(quantity={"words": 900})

        assert run.settlement is not None
        self.assertEqual((run.settlement.status, run.settlement.charged), ("settled", 9))
        self.assertEqual(self.balance(), 1000 - 9)
        self.assertEqual(self.tg.usage(self.owner.tenant_id).active_runs, 0)

    def test_a_later_report_replaces_an_earlier_one_and_credits_may_be_reported(self) -> None:
        with self.tg.run("content_generation", quantity={"words": 1200}) as run:
            run.report(quantity={"words": 300})
            run.report(credits=7)

        self.assertEqual(self.balance(), 1000 - 7)

    def test_a_run_that_reports_nothing_is_charged_what_it_reserved(self) -> None:
        with self.tg.run("content_generation", quantity={"words": 1200}) as run:
            pass

        self.assertEqual(run.settlement and run.settlement.charged, 12)
        self.assertEqual(self.balance(), 1000 - 12)

    def test_a_block_that_raises_releases_the_reservation_and_the_error_propagates(self) -> None:
        with self.assertRaises(ModelCallFailed):
            with self.tg.run("content_generation", quantity={"words": 1200}) as run:
                run.report(quantity={"words": 900})
                raise ModelCallFailed("the model timed out")

        self.assertIsNone(run.settlement)
        self.assertEqual(run.released and run.released.status, "released")
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (1000, 0))
        self.assertEqual(self.tg.usage(self.owner.tenant_id).active_runs, 0)

    def test_a_refused_run_raises_denied_and_never_enters_the_block(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, limits={"runs": 0})
        entered = False

        with self.assertRaises(Denied) as caught:
            with self.tg.run("clustering"):
                entered = True

        self.assertFalse(entered)
        self.assertIs(caught.exception.code, DenialCode.LIMIT_EXCEEDED)
        self.assertFalse(caught.exception.decision.allowed)
        self.assertEqual(self.balance(), 1000)

    def test_a_run_is_entered_once(self) -> None:
        run = self.tg.run("clustering")
        with run:
            pass
        with self.assertRaises(RuntimeError):
            run.__enter__()

    def test_a_service_key_runs_and_settles_for_a_member(self) -> None:
        backend = Client(self.fx.url, api_key=self.fx.service_key())
        acting = (self.owner.tenant_id, self.owner.user_id)

        with backend.run("content_generation", quantity={"words": 500}, on_behalf_of=acting) as run:
            run.report(quantity={"words": 150})

        self.assertEqual(run.decision and run.decision.raw["principal"]["role"], "owner")
        self.assertEqual(run.settlement and run.settlement.charged, 2)
        self.assertEqual(self.balance(), 1000 - 2)


if __name__ == "__main__":
    unittest.main()
