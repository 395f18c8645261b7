"""A real Tollgate for the Python suites (the SDK's and the example app's).

``shared_server()`` starts one server process per test run, the way ``npm start`` does
(``node --import tsx src/main.ts serve`` in ``server/``), on a free port, with a fresh
PGlite data directory in a temporary directory, the config ``test_config()`` writes, and
a bootstrap operator; it stops when the interpreter exits. ``Fixtures`` makes users,
tenants and keys through the HTTP API, as a real deployment would. Needs ``npm ci`` run
in the repository first.
"""

import atexit
import json
import os
import queue
import re
import subprocess
import tempfile
import threading
import unittest
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from tollgate import Client

REPO = Path(__file__).resolve().parents[2]
OPERATOR_EMAIL = "operator@example.com"
OPERATOR_PASSWORD = "operator-password-for-tests"
PASSWORD = "a-long-password"
START_TIMEOUT_SECONDS = 90
LISTENING = re.compile(r"listening on (http://[\d.]+:\d+)")


def suite_config() -> Dict[str, Any]:
    """The suites' config (JSON is YAML): small limits, and plans whose rate limits make real 429s."""
    writing = {"module": "writer", "meter": "runs", "cost": {"type": "per_unit", "unit": "words", "per": 100, "credits": 1, "minimum": 1}}
    base_plan = {"limits": {"runs": 10}, "concurrentRuns": 5, "creditsPerPeriod": 1000, "modules": ["planner", "writer"]}
    return {
        "version": 1,
        "auth": {"scryptCost": 10},
        "rateLimits": {
            "scopes": {
                "api": {"limit": 1200, "windowSeconds": 60},
                "auth": {"limit": 1000, "windowSeconds": 60},
                "authorize": {"limit": 6000, "windowSeconds": 60},
            }
        },
        "modules": ["planner", "writer"],
        "meters": {"runs": {"description": "AI runs in the period", "bypassRoles": ["owner"]}},
        "plans": {
            "free": {**base_plan, "default": True},
            # Two decisions a second, and two settles or releases: the third is refused.
            "throttled": {**base_plan, "rateLimit": {"limit": 2, "windowSeconds": 1}},
            # One an hour: a Retry-After no client should wait out.
            "hourly": {**base_plan, "rateLimit": {"limit": 1, "windowSeconds": 3600}},
        },
        "operations": {
            "clustering": {"module": "planner", "meter": "runs", "cost": {"type": "fixed", "credits": 10}},
            "content_generation": writing,
        },
    }


class TollgateServer:
    """One server process; ``url`` once started."""

    def __init__(self, config: Optional[Dict[str, Any]] = None) -> None:
        self.config = config
        self.url = ""
        self.output: List[str] = []
        self._process: Optional["subprocess.Popen[str]"] = None
        self._directory = tempfile.TemporaryDirectory(prefix="tollgate-py-")

    def start(self) -> "TollgateServer":
        home = Path(self._directory.name)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "HOST": "127.0.0.1",
            "PORT": "0",
            "LOG_LEVEL": "warn",
            "TOLLGATE_DATA_DIR": str(home / "data"),
            "TOLLGATE_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR_EMAIL,
            "TOLLGATE_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
        }
        if self.config is not None:
            path = home / "tollgate.config.json"
            path.write_text(json.dumps(self.config, indent=2))
            env["TOLLGATE_CONFIG"] = str(path)
        self._process = subprocess.Popen(
            ["node", "--import", "tsx", "src/main.ts", "serve"],
            cwd=REPO / "server", env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        lines: "queue.Queue[Optional[str]]" = queue.Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        self.url = self._await_listening(lines)
        return self

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._directory.cleanup()

    def _drain(self, lines: "queue.Queue[Optional[str]]") -> None:
        assert self._process and self._process.stdout
        with self._process.stdout:  # closed at its end, the process's: a server stopped before the run ends leaves no open pipe
            for line in self._process.stdout:
                self.output.append(line)
                lines.put(line)
        lines.put(None)

    def _await_listening(self, lines: "queue.Queue[Optional[str]]") -> str:
        while True:
            try:
                line = lines.get(timeout=START_TIMEOUT_SECONDS)
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError("Tollgate did not start (did `npm ci` run?):\n" + "".join(self.output))
            match = LISTENING.search(line)
            if match:
                return match.group(1)


@dataclass(frozen=True)
class Account:
    """A user who signed up, with the personal tenant they own."""

    email: str
    user_id: str
    tenant_id: str
    token: str


class Fixtures:
    """Users, tenants and keys made through the HTTP API (with the SDK's own ``request``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        answer = Client(url).request("POST", "/v1/token", json={"grantType": "password", "email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD})
        self.operator = Client(url, token=answer["accessToken"])

    def signup(self, name: str = "user") -> Account:
        email = f"{name}-{uuid.uuid4().hex[:12]}@example.com"
        answer = Client(self.url).request("POST", "/v1/signup", json={"email": email, "password": PASSWORD})
        return Account(email, answer["user"]["id"], answer["tenant"]["id"], answer["accessToken"])

    def as_user(self, account: Account, **options: Any) -> Client:
        return Client(self.url, token=account.token, **options)

    def api_key(self, account: Account, scopes: Sequence[str] = ("authorize", "read"), **settings: Any) -> str:
        body = {"name": "tests", "scopes": list(scopes), **settings}
        return str(self.as_user(account).request("POST", f"/v1/tenants/{account.tenant_id}/api-keys", json=body)["key"])

    def service_key(self) -> str:
        return str(self.operator.request("POST", "/v1/admin/service-keys", json={"name": f"svc-{uuid.uuid4().hex[:8]}"})["key"])

    def patch_tenant(self, tenant_id: str, **fields: Any) -> Any:
        return self.operator.request("PATCH", f"/v1/admin/tenants/{tenant_id}", json=fields)

    def join(self, owner: Account, member: Account, role: str = "member") -> None:
        """``member`` joins ``owner``'s tenant with ``role`` (an invitation, accepted)."""
        invitation = self.as_user(owner).request(
            "POST", f"/v1/tenants/{owner.tenant_id}/invitations", json={"email": member.email, "role": role}
        )
        self.as_user(member).request("POST", f"/v1/invitations/{invitation['token']}/accept")


_shared: Optional[Fixtures] = None
_lock = threading.Lock()


def shared_server(shipped_config: bool = False) -> Fixtures:
    """The run's one server (started on first use, with ``suite_config()`` or the shipped config), and fixtures on it."""
    global _shared
    with _lock:
        if _shared is None:
            server = TollgateServer(None if shipped_config else suite_config()).start()
            atexit.register(server.stop)
            _shared = Fixtures(server.url)
        return _shared


class ServerTestCase(unittest.TestCase):
    """A test against the run's shared server; each test gets a fresh ``owner`` (a signed-up user) and ``tg``, a client with an API key of theirs."""

    shipped_config = False
    own_config: Optional[Dict[str, Any]] = None
    """A config the shared server cannot have (a reservation TTL of a second): the class gets a server of its own, stopped after it."""
    fx: Fixtures

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        if cls.own_config is None:
            cls.fx = shared_server(cls.shipped_config)
            return
        server = TollgateServer(cls.own_config).start()
        cls.addClassCleanup(server.stop)
        cls.fx = Fixtures(server.url)

    def setUp(self) -> None:
        self.owner = self.fx.signup("owner")
        self.key = self.fx.api_key(self.owner)
        self.tg = Client(self.fx.url, api_key=self.key)
