"""The run() helper against a real Tollgate: refused, settled, released."""

import unittest

from tollgate import AlreadyResolved, Client, Denied, DenialCode, TollgateError

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

    def test_a_replay_of_a_settled_run_raises_already_resolved_with_what_was_charged_and_never_enters_the_block(self) -> None:
        with self.tg.run("content_generation", quantity={"words": 1200}, idempotency_key="job-42") as first:
            first.report(quantity={"words": 900})
        entered = 0

        for _ in range(3):
            with self.assertRaises(AlreadyResolved) as caught:
                with self.tg.run("content_generation", quantity={"words": 1200}, idempotency_key="job-42"):
                    entered += 1
            replay = caught.exception
            self.assertNotIsInstance(replay, TollgateError)
            self.assertEqual((replay.status, replay.charged), ("settled", 9))
            self.assertEqual(replay.reservation.reservation_id, first.reservation_id)
            self.assertTrue(replay.decision.replayed)

        self.assertEqual(entered, 0)
        self.assertEqual(self.balance(), 1000 - 9)
        runs = self.tg.usage(self.owner.tenant_id).meter("runs")
        self.assertEqual(runs and runs.used, 1)

    def test_a_replay_of_a_released_run_raises_already_resolved_rather_than_doing_work_it_cannot_settle(self) -> None:
        with self.assertRaises(ModelCallFailed):
            with self.tg.run("clustering", idempotency_key="job-43"):
                raise ModelCallFailed("the model timed out")
        entered = False

        with self.assertRaises(AlreadyResolved) as caught:
            with self.tg.run("clustering", idempotency_key="job-43"):
                entered = True

        self.assertFalse(entered)
        self.assertEqual((caught.exception.status, caught.exception.charged), ("released", 0))
        self.assertIn("new idempotency key", str(caught.exception))
        self.assertEqual(self.balance(), 1000)

    def test_a_replay_whose_reservation_is_still_held_resumes_the_run_and_settles_it(self) -> None:
        # The earlier attempt: admitted, then the process died before the block finished.
        earlier = self.tg.authorize("clustering", idempotency_key="job-44")

        with self.tg.run("clustering", idempotency_key="job-44") as run:
            self.assertEqual((run.resumed, run.reservation_id), (True, earlier.reservation_id))
            run.report(credits=4)

        self.assertEqual(run.settlement and (run.settlement.status, run.settlement.charged), ("settled", 4))
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (1000 - 4, 0))

    def test_the_reservation_reads_as_a_settle_would_find_it(self) -> None:
        decision = self.tg.authorize("clustering")
        assert decision.reservation_id is not None
        held = self.tg.reservation(decision.reservation_id)
        self.assertEqual((held.status, held.held, held.charged, held.resolved_at), ("held", 10, 0, None))
        self.tg.settle(decision.reservation_id, credits=3)
        settled = self.tg.reservation(decision.reservation_id)
        self.assertEqual((settled.status, settled.charged), ("settled", 3))

    def test_a_service_key_runs_and_settles_for_a_member(self) -> None:
        backend = Client(self.fx.url, api_key=self.fx.service_key())
        acting = (self.owner.tenant_id, self.owner.user_id)

        with backend.run("content_generation", quantity={"words": 500}, on_behalf_of=acting, idempotency_key="job-45") as run:
            run.report(quantity={"words": 150})

        self.assertEqual(run.decision and run.decision.raw["principal"]["role"], "owner")
        self.assertEqual(run.settlement and run.settlement.charged, 2)
        self.assertEqual(self.balance(), 1000 - 2)
        # Its replay reads the reservation for the same member (the header), as it settled it.
        with self.assertRaises(AlreadyResolved) as caught:
            with backend.run("content_generation", quantity={"words": 500}, on_behalf_of=acting, idempotency_key="job-45"):
                pass
        self.assertEqual((caught.exception.status, caught.exception.charged), ("settled", 2))


if __name__ == "__main__":
    unittest.main()
