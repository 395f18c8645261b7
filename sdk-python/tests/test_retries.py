"""Retries on 429 and 503 honouring Retry-After, with the same idempotency key; timeouts.

The 429s come from a real Tollgate (a plan with a rate limit of two per second, or one an
hour, in the suite's config); the 503s, hangs and refused connections from a local stub,
since what is tested there is the client. Waits go through an injected ``sleep`` that
records them; against the real server it also waits, since the bucket must refill.
"""

import socket
import time
import unittest
from typing import Callable, List

from tollgate import BadRequest, Client, RateLimited, ServiceUnavailable, TollgateConnectionError, TollgateTimeout

from .stub_server import Scripted, StubTestCase, decision_body, error_body
from .tollgate_server import ServerTestCase

ATTEMPTS_TO_EMPTY_A_BUCKET = 20


def recording(waits: List[float], really: bool = False) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if really:
            time.sleep(seconds)

    return sleep


class RealRateLimitTest(ServerTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.reservation = self.tg.authorize("clustering").reservation_id or ""

    def test_a_429_waits_retry_after_and_sends_again(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, plan="throttled")
        waits: List[float] = []
        tg = Client(self.fx.url, api_key=self.key, retries=2, sleep=recording(waits, really=True))

        # Settling again is idempotent, and each call draws from the tenant's closing bucket
        # (two a second): within a few calls one meets a 429 and is retried after Retry-After.
        for _ in range(ATTEMPTS_TO_EMPTY_A_BUCKET):
            settled = tg.settle(self.reservation, credits=4)
            if waits:
                break

        self.assertEqual(waits, [1.0])
        self.assertEqual((settled.status, settled.charged), ("settled", 4))

    def test_without_retries_the_429_carries_code_request_id_and_retry_after(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, plan="throttled")
        tg = Client(self.fx.url, api_key=self.key, retries=0)

        with self.assertRaises(RateLimited) as caught:
            for _ in range(ATTEMPTS_TO_EMPTY_A_BUCKET):
                tg.settle(self.reservation, credits=4)

        error = caught.exception
        self.assertEqual((error.code, error.status, error.retry_after), ("RATE_LIMITED", 429, 1.0))
        self.assertTrue(error.request_id and error.request_id.startswith("req_"))

    def test_a_retry_after_beyond_max_retry_wait_is_raised_at_once(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, plan="hourly")
        waits: List[float] = []
        tg = Client(self.fx.url, api_key=self.key, retries=3, max_retry_wait=10, sleep=recording(waits))
        tg.settle(self.reservation, credits=4)

        with self.assertRaises(RateLimited) as caught:
            tg.settle(self.reservation, credits=4)

        self.assertEqual(waits, [])
        self.assertGreater(caught.exception.retry_after or 0, 10)


class StubbedRetryTest(StubTestCase):
    def test_a_503_is_retried_after_retry_after_with_the_same_idempotency_key(self) -> None:
        unavailable = Scripted(503, error_body("DATABASE_UNAVAILABLE"), {"retry-after": "2"})
        stub = self.serve(unavailable, unavailable, Scripted(200, decision_body()))
        waits: List[float] = []

        decision = Client(stub.url, api_key="tg_x", retries=2, sleep=recording(waits)).authorize("clustering")

        self.assertTrue(decision.allowed)
        self.assertEqual(waits, [2.0, 2.0])
        keys = [request["idempotencyKey"] for request in stub.requests]
        self.assertEqual(keys, [decision.idempotency_key] * 3)

    def test_a_callers_own_key_is_the_one_sent_again(self) -> None:
        stub = self.serve(Scripted(503, error_body("DATABASE_BUSY"), {"retry-after": "1"}), Scripted(200, decision_body()))

        Client(stub.url, api_key="tg_x", sleep=recording([])).authorize("clustering", idempotency_key="job-7")

        self.assertEqual([request["idempotencyKey"] for request in stub.requests], ["job-7", "job-7"])

    def test_retries_are_bounded_and_the_last_503_is_raised(self) -> None:
        stub = self.serve(Scripted(503, error_body("DATABASE_UNAVAILABLE", "down"), {"retry-after": "1"}))
        waits: List[float] = []

        with self.assertRaises(ServiceUnavailable) as caught:
            Client(stub.url, api_key="tg_x", retries=3, sleep=recording(waits)).settle("res_x")

        self.assertEqual(len(stub.requests), 4)
        self.assertEqual(waits, [1.0, 1.0, 1.0])
        self.assertEqual((caught.exception.code, caught.exception.status, caught.exception.message), ("DATABASE_UNAVAILABLE", 503, "down"))
        self.assertEqual(caught.exception.request_id, "req_stub")

    def test_without_retry_after_the_waits_back_off_and_stay_bounded(self) -> None:
        stub = self.serve(Scripted(503, error_body("DATABASE_BUSY")))
        waits: List[float] = []

        with self.assertRaises(ServiceUnavailable):
            Client(stub.url, api_key="tg_x", retries=4, max_retry_wait=10, sleep=recording(waits)).release("res_x")

        self.assertEqual(len(waits), 4)
        self.assertTrue(all(0 < wait <= 5 for wait in waits), waits)
        self.assertLess(waits[0], waits[-1])

    def test_a_client_error_is_not_retried(self) -> None:
        stub = self.serve(Scripted(400, error_body("VALIDATION_FAILED")), Scripted(200, decision_body()))

        with self.assertRaises(BadRequest):
            Client(stub.url, api_key="tg_x", retries=3, sleep=recording([])).authorize("clustering")

        self.assertEqual(len(stub.requests), 1)

    def test_an_answer_that_does_not_come_is_a_timeout_and_retried_with_the_same_key(self) -> None:
        stub = self.serve(Scripted(200, hang=True))
        waits: List[float] = []

        with self.assertRaises(TollgateTimeout) as caught:
            Client(stub.url, api_key="tg_x", timeout=0.2, retries=1, sleep=recording(waits)).authorize("clustering")

        self.assertIsInstance(caught.exception, TimeoutError)
        self.assertEqual(len(waits), 1)
        self.assertEqual(stub.received(2), 2)
        self.assertEqual(len({request["idempotencyKey"] for request in stub.requests}), 1)

    def test_a_refused_connection_is_retried_then_raised(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        waits: List[float] = []

        with self.assertRaises(TollgateConnectionError) as caught:
            Client(f"http://127.0.0.1:{port}", api_key="tg_x", retries=2, sleep=recording(waits)).authorize("clustering")

        self.assertNotIsInstance(caught.exception, TollgateTimeout)
        self.assertIsNone(caught.exception.status)
        self.assertEqual(len(waits), 2)

    def test_a_post_without_an_idempotency_key_is_not_sent_again_after_a_timeout(self) -> None:
        stub = self.serve(Scripted(200, hang=True), Scripted(201, {"id": "key_twice"}))
        waits: List[float] = []
        client = Client(stub.url, api_key="tg_x", timeout=0.2, retries=3, sleep=recording(waits))

        with self.assertRaises(TollgateTimeout):
            client.request("POST", "/v1/tenants/tnt_x/api-keys", json={"name": "ci"})

        # It may have been carried out: a second key would be a second effect.
        self.assertEqual(waits, [])
        self.assertEqual(stub.received(1), 1)

    def test_a_post_carrying_an_idempotency_key_is_sent_again_after_a_timeout(self) -> None:
        stub = self.serve(Scripted(200, hang=True), Scripted(200, {"balance": 10}))
        waits: List[float] = []
        client = Client(stub.url, api_key="tg_x", timeout=0.2, retries=1, sleep=recording(waits))

        self.assertEqual(client.request("POST", "/v1/admin/tenants/tnt_x/credits", json={"amount": 10, "idempotencyKey": "grant-1"}), {"balance": 10})
        self.assertEqual(len(waits), 1)
        self.assertEqual([request["idempotencyKey"] for request in stub.requests], ["grant-1", "grant-1"])

    def test_a_post_without_an_idempotency_key_is_not_sent_again_after_a_503(self) -> None:
        stub = self.serve(Scripted(503, error_body("DATABASE_UNAVAILABLE"), {"retry-after": "1"}), Scripted(201, {"id": "key_twice"}))
        waits: List[float] = []
        client = Client(stub.url, api_key="tg_x", retries=2, sleep=recording(waits))

        with self.assertRaises(ServiceUnavailable) as caught:
            client.request("POST", "/v1/tenants/tnt_x/api-keys", json={"name": "ci"})

        # A 503 DATABASE_UNAVAILABLE can follow the commit: the key may exist, and a second would be a second effect.
        self.assertEqual((caught.exception.code, caught.exception.retry_after), ("DATABASE_UNAVAILABLE", 1.0))
        self.assertEqual(waits, [])
        self.assertEqual(len(stub.requests), 1)

    def test_a_post_without_an_idempotency_key_is_sent_again_after_a_429(self) -> None:
        stub = self.serve(Scripted(429, error_body("RATE_LIMITED"), {"retry-after": "1"}), Scripted(201, {"id": "key_once"}))
        waits: List[float] = []
        client = Client(stub.url, api_key="tg_x", retries=1, sleep=recording(waits))

        self.assertEqual(client.request("POST", "/v1/tenants/tnt_x/api-keys", json={"name": "ci"}), {"id": "key_once"})
        self.assertEqual(waits, [1.0])

    def test_a_post_carrying_an_idempotency_key_is_sent_again_after_a_503(self) -> None:
        stub = self.serve(Scripted(503, error_body("DATABASE_UNAVAILABLE"), {"retry-after": "1"}), Scripted(200, {"replayed": True}))
        waits: List[float] = []
        client = Client(stub.url, api_key="tg_x", retries=1, sleep=recording(waits))

        grant = {"amount": 10, "reason": "goodwill", "idempotencyKey": "grant-1"}
        self.assertEqual(client.request("POST", "/v1/admin/tenants/tnt_x/credits", json=grant), {"replayed": True})
        self.assertEqual(waits, [1.0])
        self.assertEqual(stub.requests, [grant, grant])

    def test_a_post_without_an_idempotency_key_is_sent_again_when_the_connection_was_refused(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        waits: List[float] = []

        with self.assertRaises(TollgateConnectionError):
            Client(f"http://127.0.0.1:{port}", api_key="tg_x", retries=2, sleep=recording(waits)).request("POST", "/v1/tenants/tnt_x/api-keys", json={"name": "ci"})

        # Refused: never sent, so nothing was done and sending it again is safe.
        self.assertEqual(len(waits), 2)


if __name__ == "__main__":
    unittest.main()
