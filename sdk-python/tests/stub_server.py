"""A local HTTP server that plays back scripted answers, for the client's retry and timeout rules.

Tollgate itself cannot be made to answer 503 on demand; what is tested with this is the
client (how often it sends, what it sends again, how long it waits), not Tollgate.
"""

import json
import socket
import struct
import threading
import unittest
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional


@dataclass
class Scripted:
    status: int
    body: Optional[Dict[str, Any]] = None
    headers: Dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Answer nothing until the stub stops (for timeouts)."""
    raw: Optional[bytes] = None
    """The body's bytes as they are, instead of ``body`` as JSON (an HTML page of a proxy, say)."""
    length: Optional[int] = None
    """The ``content-length`` announced, when it is not the body's (more: the body breaks off)."""
    drip: float = 0.0
    """Seconds between the body's bytes, sent one at a time."""
    drip_head: bool = False
    """With ``drip``: the status line and the headers are dripped too."""
    then: str = "close"
    """After the body: ``close`` the connection, ``reset`` it (an RST), or ``stall`` until the stub stops."""


class StubServer:
    """Answers the n-th request with ``script[n]`` (the last entry repeats); ``requests`` holds every JSON body received."""

    def __init__(self, script: List[Scripted]) -> None:
        self.script = script
        self.requests: List[Dict[str, Any]] = []
        self.released = threading.Event()
        self._arrived = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._arrived:
                    stub.requests.append(body)
                    answer = stub.script[min(len(stub.requests), len(stub.script)) - 1]
                    stub._arrived.notify_all()
                if answer.hang:
                    stub.released.wait(30)
                    return
                payload = answer.raw if answer.raw is not None else json.dumps(answer.body).encode() if answer.body is not None else b""
                headers = {"content-type": "application/json", "x-request-id": f"req_stub_{len(stub.requests)}", **answer.headers}
                headers["content-length"] = str(len(payload) if answer.length is None else answer.length)
                if answer.drip_head:
                    head = f"HTTP/1.0 {answer.status} Stub\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
                    self.write_body(answer, head.encode() + payload)
                    return
                self.send_response(answer.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.write_body(answer, payload)

            def write_body(self, answer: Scripted, payload: bytes) -> None:
                try:
                    if answer.drip:
                        for byte in payload:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            if stub.released.wait(answer.drip):
                                return
                    else:
                        self.wfile.write(payload)
                        self.wfile.flush()
                except OSError:
                    return  # the client left (a timeout): what is tested is what it raised
                if answer.then == "stall":
                    stub.released.wait(30)
                elif answer.then == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.rfile.close()  # its reference would keep the socket open past close()
                    self.connection.close()

            # A GET (a read) is answered from the same script; its body is empty, recorded as {}.
            do_GET = do_POST  # noqa: N815 - the http.server naming

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def received(self, count: int) -> int:
        """How many requests arrived, once ``count`` have (or after a few seconds): a timed-out client may leave before its request is read."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.requests) >= count, timeout=10)
            return len(self.requests)

    def close(self) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()


class StubTestCase(unittest.TestCase):
    def serve(self, *script: Scripted) -> StubServer:
        """A stub answering from ``script``, stopped after the test."""
        stub = StubServer(list(script))
        self.addCleanup(stub.close)
        return stub


def decision_body() -> Dict[str, Any]:
    """An allowed decision as the server would spell it."""
    return {
        "allowed": True, "code": "OK", "decisionId": "dec_stub", "tenant": {"id": "tnt_stub", "plan": "free", "enterprise": False},
        "principal": {"type": "api_key", "id": "key_stub", "userId": None, "role": None},
        "operation": {"name": "clustering", "module": "planner", "credits": 10},
        "limits": [{"meter": "runs", "used": 1, "limit": 10, "remaining": 9, "resetsAt": "2030-01-01T00:00:00.000Z"}],
        "credits": {"balance": 100, "reserved": 10, "available": 90},
        "reservation": {"id": "res_stub", "credits": 10, "expiresAt": "2030-01-01T00:00:00.000Z"},
        "bypass": None, "route": {"provider": "default"},
    }


def error_body(code: str, message: str = "scripted") -> Dict[str, Any]:
    return {"error": {"code": code, "message": message, "requestId": "req_stub"}}
