"""A redirect is never followed: the credential is sent to ``base_url`` and nowhere else.

The redirect comes from a local stub (Tollgate answers none); where it points is a bare
listening socket that is never accepted from, so anything that reached it, a connection
or a request with the key in its headers, is still waiting in its backlog afterwards.
"""

import socket
import unittest
from typing import Any, Callable

from tollgate import Client, TollgateError

from .stub_server import Scripted, StubServer

SECRET = "tg_secret_that_must_stay_home"
CALLS = {
    "authorize (POST)": lambda client: client.authorize("clustering"),
    "credits (GET)": lambda client: client.credits("tnt_x"),
}


def waiting(listener: socket.socket) -> bytes:
    """What reached the listener: the bytes of every connection made to it (b"" when none was)."""
    listener.setblocking(False)
    received = b""
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return received
        with connection:
            connection.settimeout(0.5)
            try:
                received += connection.recv(65536) or b"(a connection)"
            except socket.timeout:
                received += b"(a connection)"


class RedirectTest(unittest.TestCase):
    def test_a_redirect_to_another_port_is_raised_and_the_credential_never_goes_there(self) -> None:
        for status in (301, 302, 303, 307, 308):
            for name, call in CALLS.items():
                with self.subTest(status=status, call=name):
                    self.assert_not_followed(status, call)

    def assert_not_followed(self, status: int, call: Callable[[Client], Any]) -> None:
        with socket.socket() as elsewhere:
            elsewhere.bind(("127.0.0.1", 0))
            elsewhere.listen(8)
            location = f"http://127.0.0.1:{elsewhere.getsockname()[1]}/v1/moved"
            stub = StubServer([Scripted(status, None, {"location": location})])
            self.addCleanup(stub.close)

            with self.assertRaises(TollgateError) as caught:
                call(Client(stub.url, api_key=SECRET, timeout=0.5, retries=2))

            arrived = waiting(elsewhere)
            self.assertNotIn(SECRET.encode(), arrived)
            self.assertEqual(arrived, b"")
            self.assertIs(type(caught.exception), TollgateError)
            self.assertEqual(caught.exception.status, status)
            self.assertIn(location, str(caught.exception))
            self.assertEqual(len(stub.requests), 1)  # not sent again either


if __name__ == "__main__":
    unittest.main()
