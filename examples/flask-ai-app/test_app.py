"""The example app end to end: its own HTTP server and login, a real Tollgate behind it.

Tollgate runs on the shipped config (what ``npm start`` serves: the free plan's 10 runs
and 100 credits, owners bypassing the run limit); the app is served by werkzeug on a free
port and driven over HTTP with a cookie jar, as a browser or a front end would.
"""

import http.cookiejar
import json
import logging
import math
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "sdk-python"), str(REPO / "sdk-python" / "tests")]

from werkzeug.serving import WSGIRequestHandler, make_server  # noqa: E402

from app import Settings, create_app  # noqa: E402
from model import LocalTestPlanModel, ModelError, TestPlan  # noqa: E402
from tollgate_server import Account, ServerTestCase, suite_config  # noqa: E402

# The app's log lines are asserted where they matter; elsewhere they are not printed.
logging.getLogger("flask_ai_app").addHandler(logging.NullHandler())

REQUIREMENTS = ["a user can reset a forgotten password", "an admin can export the audit log", "a report lists runs per day"]
FREE_PLAN_CREDITS = 100


class FailingModel(LocalTestPlanModel):
    def __init__(self) -> None:
        self.calls = 0

    def generate_test_plan(self, requirements: List[str]) -> TestPlan:
        self.calls += 1
        raise ModelError("the provider timed out")


class ModelDoing(LocalTestPlanModel):
    """The model, with something happening while it runs (it takes long; Tollgate goes out of reach)."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        self.meanwhile = meanwhile

    def generate_test_plan(self, requirements: List[str]) -> TestPlan:
        self.meanwhile()
        return super().generate_test_plan(requirements)


class Relay:
    """A TCP relay to Tollgate that can be cut: from then on each connection is closed unanswered, Tollgate out of reach."""

    def __init__(self, target_url: str) -> None:
        target = urllib.parse.urlsplit(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.open = True
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.open:
                threading.Thread(target=relay, args=(client, socket.create_connection(self.target)), daemon=True).start()
            else:
                client.close()

    def cut(self) -> None:
        self.open = False

    def close(self) -> None:
        self.listener.close()


def relay(client: socket.socket, upstream: socket.socket) -> None:
    with client, upstream:
        forward = threading.Thread(target=pump, args=(client, upstream))
        forward.start()
        pump(upstream, client)
        forward.join()


def pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any) -> None:
        pass


class Browser:
    """One signed-in (or not) user of the app, with its session cookie."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers={"content-type": "application/json"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as refused:
            with refused:
                return refused.code, json.loads(refused.read())

    def generate(self, requirements: List[Any] = REQUIREMENTS) -> Tuple[int, Dict[str, Any]]:
        return self.call("POST", "/api/generate-test-plan", {"requirements": requirements})


class AppTestCase(ServerTestCase):
    """The app served against a Tollgate (the shipped config's, unless a class says otherwise), its owner and member added."""

    shipped_config = True
    service_key: str

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.service_key = cls.fx.service_key()

    def setUp(self) -> None:
        super().setUp()
        self.member = self.fx.signup("member")
        self.fx.join(self.owner, self.member)
        self.url = self.serve(LocalTestPlanModel())

    def serve(self, model: LocalTestPlanModel, tollgate_url: str = "") -> str:
        """Starts the app on a free port with its own database, its users added through its CLI; returns its URL."""
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        settings = Settings(tollgate_url or self.fx.url, self.service_key, "test-secret", str(Path(directory.name) / "app.sqlite3"))
        app = create_app(settings, model=model)
        # Both work in the owner's team (the member's own personal tenant plays no part).
        for email, account in (("owner@acme.example", self.owner), ("member@acme.example", self.member)):
            self.add_user(app, email, self.owner.tenant_id, account)
        server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.addCleanup(server.server_close)
        self.addCleanup(server.shutdown)
        return f"http://127.0.0.1:{server.server_port}"

    def add_user(self, app: Any, email: str, team_id: str, account: Account) -> None:
        args = ["add-user", email, "--tenant", team_id, "--user", account.user_id, "--password", "app-password"]
        result = app.test_cli_runner().invoke(args=args)
        self.assertEqual(result.exit_code, 0, result.output)

    def signed_in(self, email: str, url: str = "") -> Browser:
        browser = Browser(url or self.url)
        status, body = browser.call("POST", "/login", {"email": email, "password": "app-password"})
        self.assertEqual(status, 200, body)
        return browser



class FlaskAppTest(AppTestCase):
    def test_a_member_gets_a_test_plan_metered_by_tollgate(self) -> None:
        status, body = self.signed_in("member@acme.example").generate()

        self.assertEqual(status, 200, body)
        plan = body["test_plan"]
        self.assertEqual([case["id"] for case in plan["cases"]], ["TC-1", "TC-2", "TC-3"])
        self.assertEqual(body["credits_charged"], math.ceil(plan["words"] / 100))
        self.assertEqual(body["usage"]["runs_used"], 1)
        self.assertEqual(body["usage"]["runs_limit"], 10)
        self.assertIsNone(body["bypass"])
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (FREE_PLAN_CREDITS - body["credits_charged"], 0))

    def test_past_the_run_limit_a_member_is_refused_and_the_owner_passes_as_a_bypass(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, limits={"runs": 1})
        member, owner = self.signed_in("member@acme.example"), self.signed_in("owner@acme.example")
        self.assertEqual(member.generate()[0], 200)
        balance = self.tg.credits(self.owner.tenant_id).balance

        refused_status, refused = member.generate()
        with self.assertLogs("flask_ai_app", "INFO") as logs:
            bypass_status, bypassed = owner.generate()

        self.assertEqual((refused_status, refused["error"]), (402, "LIMIT_EXCEEDED"))
        self.assertEqual((refused["usage"]["runs_used"], refused["usage"]["runs_limit"]), (1, 1))
        self.assertEqual(bypass_status, 200, bypassed)
        self.assertEqual(bypassed["bypass"], {"reason": "owner", "meter": "runs"})
        self.assertTrue(any("OWNER_BYPASS" in line and self.owner.tenant_id in line for line in logs.output), logs.output)
        self.assertEqual(self.tg.credits(self.owner.tenant_id).balance, balance - bypassed["credits_charged"])
        events = self.tg.usage_events(self.owner.tenant_id).items
        self.assertEqual([event["bypass"] for event in events], [True, False])

    def test_a_failed_model_call_releases_the_reservation(self) -> None:
        model = FailingModel()
        url = self.serve(model)

        status, body = self.signed_in("member@acme.example", url).generate()

        self.assertEqual((status, body["error"], model.calls), (502, "MODEL_FAILED", 1))
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (FREE_PLAN_CREDITS, 0))
        self.assertEqual(self.tg.usage(self.owner.tenant_id).active_runs, 0)

    def test_the_app_login_is_required_and_checked(self) -> None:
        anonymous = Browser(self.url)
        self.assertEqual(anonymous.generate()[0], 401)
        self.assertEqual(anonymous.call("POST", "/login", {"email": "member@acme.example", "password": "wrong"})[0], 401)
        member = self.signed_in("member@acme.example")
        member.call("POST", "/logout")
        self.assertEqual(member.generate(), (401, {"error": "UNAUTHENTICATED", "message": "Sign in first."}))

    def test_bad_input_is_a_400_and_asks_tollgate_nothing(self) -> None:
        member = self.signed_in("member@acme.example")

        bad: List[List[Any]] = [[], ["  "], [3]]
        for requirements in bad:
            with self.subTest(requirements=requirements):
                self.assertEqual(member.generate(requirements)[0], 400)
        self.assertEqual((self.tg.usage(self.owner.tenant_id).meter("runs") or self.fail()).used, 0)

    def test_a_suspended_team_is_refused(self) -> None:
        self.fx.patch_tenant(self.owner.tenant_id, status="suspended")

        status, body = self.signed_in("owner@acme.example").generate()

        self.assertEqual((status, body["error"]), (403, "TENANT_SUSPENDED"))

    def test_a_user_who_left_the_team_in_tollgate_is_refused(self) -> None:
        self.fx.as_user(self.owner).request("DELETE", f"/v1/tenants/{self.owner.tenant_id}/members/{self.member.user_id}")

        status, body = self.signed_in("member@acme.example").generate()

        self.assertEqual((status, body["error"]), (403, "ON_BEHALF_OF_NOT_MEMBER"))

    def test_without_tollgate_no_run_starts(self) -> None:
        model = FailingModel()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            nothing_listens = f"http://127.0.0.1:{probe.getsockname()[1]}"
        url = self.serve(model, tollgate_url=nothing_listens)

        status, body = self.signed_in("member@acme.example", url).generate()

        self.assertEqual((status, body["error"], model.calls), (503, "METERING_UNAVAILABLE", 0))

    def test_a_plan_whose_settle_finds_tollgate_out_of_reach_is_not_handed_out(self) -> None:
        relay = Relay(self.fx.url)
        self.addCleanup(relay.close)
        url = self.serve(ModelDoing(relay.cut), tollgate_url=relay.url)

        with self.assertLogs("flask_ai_app", "ERROR") as logs:
            status, body = self.signed_in("member@acme.example", url).generate()

        self.assertEqual((status, body.get("error")), (503, "METERING_UNAVAILABLE"))
        self.assertNotIn("test_plan", body)
        self.assertTrue(any("SETTLE_FAILED" in line for line in logs.output), logs.output)
        # Not settled: the 20 credits stay held until the reservation expires, and then go back; nothing is charged.
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (FREE_PLAN_CREDITS, 20))

    def test_usage_shows_the_teams_runs_and_credits(self) -> None:
        member = self.signed_in("member@acme.example")
        charged = member.generate()[1]["credits_charged"]

        status, body = member.call("GET", "/api/usage")

        self.assertEqual(status, 200, body)
        self.assertEqual((body["runs"]["used"], body["runs"]["limit"]), (1, 10))
        self.assertEqual(body["credits"]["balance"], FREE_PLAN_CREDITS - charged)


class ExpiredReservationTest(AppTestCase):
    """A Tollgate of its own, whose reservations expire after a second: a slow model outlives its run's."""

    own_config = {**suite_config(), "metering": {"reservationTtlSeconds": 1}}

    def test_a_plan_that_outlived_its_reservation_is_not_handed_out_nor_charged(self) -> None:
        url = self.serve(ModelDoing(lambda: time.sleep(1.5)))
        balance = self.tg.credits(self.owner.tenant_id).balance

        with self.assertLogs("flask_ai_app", "ERROR") as logs:
            status, body = self.signed_in("member@acme.example", url).generate()

        self.assertEqual((status, body.get("error")), (502, "RUN_NOT_SETTLED"))
        self.assertNotIn("test_plan", body)
        self.assertTrue(any("SETTLE_FAILED" in line and "RESERVATION_EXPIRED" in line for line in logs.output), logs.output)
        credits = self.tg.credits(self.owner.tenant_id)
        self.assertEqual((credits.balance, credits.reserved), (balance, 0))


if __name__ == "__main__":
    import unittest

    unittest.main()
