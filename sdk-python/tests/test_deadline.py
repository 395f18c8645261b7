"""``timeout`` is a deadline for the whole attempt, not for each wait for data.

A local stub drips an answer a byte at a time, each byte well within the timeout, the
whole answer well beyond it: the call raises ``TollgateTimeout`` at its deadline, where
per-read timeouts alone would wait for the last byte (and then succeed). Whatever the
content type or status: a proxy's HTML error page is read under the same deadline.
"""

import unittest
from typing import Any, Callable, Dict

from tollgate import Client, TollgateTimeout

from .stub_server import Scripted, StubTestCase, error_body

TIMEOUT = 0.3
DRIP = 0.1
BALANCE = b'{"balance": 10, "reserved": 0, "available": 10}'  # 48 bytes: about 5 s dripped


class DeadlineTest(StubTestCase):
    def test_an_answer_that_drips_past_the_timeout_is_a_timeout(self) -> None:
        dripped: Dict[str, Scripted] = {
            "a JSON body": Scripted(200, raw=BALANCE, drip=DRIP),
            "the status line and headers": Scripted(200, raw=BALANCE, drip=DRIP, drip_head=True),
            "a proxy's HTML error page": Scripted(502, {}, {"content-type": "text/html"}, raw=b"<html>" + b" " * 40 + b"</html>", drip=DRIP),
            "an error's JSON body": Scripted(503, error_body("DATABASE_UNAVAILABLE"), drip=DRIP),
        }
        calls: Dict[str, Callable[[Client], Any]] = {"a read (GET)": lambda tg: tg.credits("tnt_x"), "a decision (POST)": lambda tg: tg.authorize("clustering")}
        for name, answer in dripped.items():
            for call_name, call in calls.items():
                with self.subTest(answer=name, call=call_name):
                    stub = self.serve(answer)
                    with self.assertRaises(TollgateTimeout):
                        call(Client(stub.url, api_key="tg_x", timeout=TIMEOUT, retries=0))

    def test_each_attempt_has_its_own_deadline(self) -> None:
        stub = self.serve(Scripted(200, raw=BALANCE, drip=DRIP), Scripted(200, raw=BALANCE))

        balance = Client(stub.url, api_key="tg_x", timeout=TIMEOUT, retries=1, sleep=lambda _: None).credits("tnt_x")

        self.assertEqual(balance.available, 10)
        self.assertEqual(stub.received(2), 2)


if __name__ == "__main__":
    unittest.main()
