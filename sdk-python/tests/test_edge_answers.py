"""The answers of the server's HTTP edge, given below its routes: 408, 417 and 431.

The 408 REQUEST_TIMEOUT comes from a real Tollgate of the class's own with a one-second
request time (``http.requestTimeoutSeconds``), reached through a relay that passes on a
request's headers and holds back its body, as a stalled upload does; the 431
HEADERS_TOO_LARGE from the shared server. The 417 EXPECTATION_FAILED comes from the stub:
this client sends no ``Expect`` header, so none of its calls can draw one.
"""

import socket
import threading
import unittest
import urllib.parse
from typing import List, Optional

from tollgate import BadRequest, Client, ExpectationFailed, HeadersTooLarge, RequestTimeout, TollgateConnectionError

from .stub_server import Scripted, StubTestCase, error_body
from .tollgate_server import ServerTestCase, suite_config


class StallingRelay:
    """A TCP relay to ``target`` whose first ``stalls`` connections pass on what the client sends
    up to the end of its headers and drop the rest (the body never arrives); later ones pass
    everything. The server's answers pass as they come.
    """

    def __init__(self, target: str, stalls: int) -> None:
        parsed = urllib.parse.urlsplit(target)
        self._target = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._stalls = stalls
        self.connections = 0
        self._sockets: List[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            stalled = self.connections < self._stalls
            self.connections += 1
            upstream = socket.create_connection(self._target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pass, args=(client, upstream, stalled), daemon=True).start()
            threading.Thread(target=self._pass, args=(upstream, client, False), daemon=True).start()

    @staticmethod
    def _pass(source: socket.socket, sink: socket.socket, stalled: bool) -> None:
        head: Optional[bytes] = b""
        try:
            while True:
                chunk = source.recv(65536)
                if not chunk:
                    break
                if not stalled:
                    sink.sendall(chunk)
                elif head is not None:
                    head += chunk
                    end = head.find(b"\r\n\r\n")
                    if end >= 0:
                        sink.sendall(head[: end + 4])
                        head = None
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            return

    def close(self) -> None:
        self._listener.close()
        for sock in self._sockets:
            sock.close()


class RealRequestTimeoutTest(ServerTestCase):
    own_config = {**suite_config(), "http": {"requestTimeoutSeconds": 1}}

    def relay(self, stalls: int) -> StallingRelay:
        relay = StallingRelay(self.fx.url, stalls)
        self.addCleanup(relay.close)
        return relay

    def tenants_named(self, name: str) -> List[str]:
        me = self.fx.as_user(self.owner).request("GET", "/v1/me")
        return [membership["tenantId"] for membership in me["memberships"] if membership["tenantName"] == name]

    def test_a_408_is_sent_again_a_post_that_creates_too_and_the_tenant_is_created_once(self) -> None:
        relay = self.relay(1)
        waits: List[float] = []
        client = Client(relay.url, token=self.owner.token, retries=1, sleep=waits.append)

        created = client.request("POST", "/v1/tenants", json={"name": "after-a-408"})

        # The server read none of the first attempt: sending it again cannot make a second tenant.
        self.assertEqual(relay.connections, 2)
        self.assertEqual(len(waits), 1)
        self.assertEqual(self.tenants_named("after-a-408"), [created["id"]])

    def test_after_the_retries_a_408_is_raised_as_request_timeout_and_nothing_was_done(self) -> None:
        relay = self.relay(2)
        client = Client(relay.url, token=self.owner.token, retries=1, sleep=lambda seconds: None)

        with self.assertRaises(RequestTimeout) as caught:
            client.request("POST", "/v1/tenants", json={"name": "never-arrived"})

        self.assertNotIsInstance(caught.exception, TollgateConnectionError)
        self.assertEqual((caught.exception.code, caught.exception.status), ("REQUEST_TIMEOUT", 408))
        self.assertTrue((caught.exception.request_id or "").startswith("req_"), caught.exception.request_id)
        self.assertEqual(relay.connections, 2)
        self.assertEqual(self.tenants_named("never-arrived"), [])


class RealHeadersTooLargeTest(ServerTestCase):
    def test_a_credential_over_what_the_server_reads_is_headers_too_large_and_not_sent_again(self) -> None:
        waits: List[float] = []

        with self.assertRaises(HeadersTooLarge) as caught:
            Client(self.fx.url, api_key="tg_" + "x" * 20_000, retries=2, sleep=waits.append).authorize("clustering")

        self.assertIsInstance(caught.exception, BadRequest)
        self.assertEqual((caught.exception.code, caught.exception.status), ("HEADERS_TOO_LARGE", 431))
        self.assertTrue((caught.exception.request_id or "").startswith("req_"), caught.exception.request_id)
        self.assertEqual(waits, [])


class StubbedExpectationFailedTest(StubTestCase):
    def test_a_417_is_expectation_failed_a_bad_request_and_not_sent_again(self) -> None:
        stub = self.serve(Scripted(417, error_body("EXPECTATION_FAILED")), Scripted(200, {}))

        with self.assertRaises(ExpectationFailed) as caught:
            Client(stub.url, api_key="tg_x", retries=2, sleep=lambda seconds: None).request("GET", "/v1/me")

        self.assertIsInstance(caught.exception, BadRequest)
        self.assertEqual((caught.exception.code, caught.exception.status), ("EXPECTATION_FAILED", 417))
        self.assertEqual(len(stub.requests), 1)


if __name__ == "__main__":
    unittest.main()
