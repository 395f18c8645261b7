"""An answer whose body breaks off, is reset or stalls is a lost answer, whatever its status said.

Every failed call raises a ``TollgateError``: the body of an error answer (a 503, a proxy's
502 page) is read under the same rules as a success's, so a failure reading it is a
``TollgateConnectionError`` or ``TollgateTimeout``, retried as one, never the socket's or
http.client's own exception. The broken answers come from a local stub server.
"""

import unittest
from typing import List

from tollgate import Client, TollgateConnectionError, TollgateTimeout

from .stub_server import Scripted, StubTestCase, decision_body, error_body

UNAVAILABLE = error_body("DATABASE_UNAVAILABLE")
HTML = b"<html><body>502 Bad Gateway</body></html>"


class BrokenAnswerTest(StubTestCase):
    def test_an_error_answer_whose_body_breaks_off_or_is_reset_is_a_connection_error(self) -> None:
        broken = {
            "503 broken off": Scripted(503, UNAVAILABLE, {"retry-after": "0"}, length=100),
            "503 reset": Scripted(503, UNAVAILABLE, {"retry-after": "0"}, length=100, then="reset"),
            "502 page broken off": Scripted(502, None, {"content-type": "text/html"}, raw=HTML, length=500),
            "400 reset": Scripted(400, error_body("VALIDATION_FAILED"), length=100, then="reset"),
        }
        for name, answer in broken.items():
            with self.subTest(name):
                stub = self.serve(answer)
                with self.assertRaises(TollgateConnectionError) as caught:
                    Client(stub.url, api_key="tg_x", timeout=2, retries=0).authorize("clustering")
                self.assertNotIsInstance(caught.exception, TollgateTimeout)
                self.assertIsNone(caught.exception.status)

    def test_an_error_answer_whose_body_stalls_is_a_timeout(self) -> None:
        stub = self.serve(Scripted(502, None, {"content-type": "text/html"}, raw=HTML, length=500, then="stall"))

        with self.assertRaises(TollgateTimeout) as caught:
            Client(stub.url, api_key="tg_x", timeout=0.2, retries=0).credits("tnt_x")

        self.assertIsInstance(caught.exception, TimeoutError)

    def test_a_broken_answer_is_retried_as_a_lost_one(self) -> None:
        stub = self.serve(Scripted(503, UNAVAILABLE, {"retry-after": "0"}, length=100), Scripted(200, decision_body()))
        waits: List[float] = []

        decision = Client(stub.url, api_key="tg_x", retries=1, sleep=waits.append).authorize("clustering", idempotency_key="job-9")

        self.assertTrue(decision.allowed)
        self.assertEqual(len(waits), 1)
        self.assertEqual([request["idempotencyKey"] for request in stub.requests], ["job-9", "job-9"])

    def test_a_broken_answer_to_a_call_not_safe_to_repeat_is_not_sent_again(self) -> None:
        stub = self.serve(Scripted(503, UNAVAILABLE, {"retry-after": "0"}, length=100), Scripted(201, {"id": "key_twice"}))
        waits: List[float] = []

        with self.assertRaises(TollgateConnectionError):
            Client(stub.url, api_key="tg_x", retries=2, sleep=waits.append).request("POST", "/v1/tenants/tnt_x/api-keys", json={"name": "ci"})

        # The answer was lost on its way: the key may exist, and a second would be a second effect.
        self.assertEqual(waits, [])
        self.assertEqual(stub.received(1), 1)


if __name__ == "__main__":
    unittest.main()
