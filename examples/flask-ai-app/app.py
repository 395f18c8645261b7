"""An AI backend shaped like the seed reports' Flask services, metered by Tollgate.

Before, ``generate_test_plan()`` called a hand-rolled
``check_and_increment_run_usage(db, tenant_id, plan_tier, period_start, period_end)``:
read the plan tier and the period, count the tenant's runs, refuse or increment — and,
to let owners through, query the member's role and return early without counting
(docs/flask-example.md shows it). Here that is one ``with tollgate.run(...)``: Tollgate
decides (plan, module, rate, run limit, credits, the owner bypass, all in one atomic
step), holds the credits, and the block's report settles them after the AI call.

The app keeps its own login (``/login``, a session cookie); each app user maps to a
Tollgate tenant and user, and the app calls Tollgate with one service key acting on behalf
of that user, so Tollgate reads the user's role itself — never from the app's session.

Run it: ``flask --app examples/flask-ai-app/app.py run`` with ``PYTHONPATH=sdk-python``
and ``TOLLGATE_SERVICE_KEY`` set (docs/flask-example.md).
"""

import logging
import math
import os
import secrets
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import click
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, session
from flask.cli import with_appcontext
from tollgate import (
    Client,
    Decision,
    Denied,
    DenialCode,
    Forbidden,
    ServerError,
    ServiceUnavailable,
    TollgateConnectionError,
    TollgateError,
)

from accounts import Accounts
from model import LocalTestPlanModel, ModelError, TestPlan

log = logging.getLogger("flask_ai_app")

OPERATION = "content_generation"
# Reserved before the model call (20 credits at 1 per 100 words); the settle charges what the plan used.
PLAN_WORDS_RESERVED = 2000
MAX_REQUIREMENTS = 50

REFUSAL_STATUS = {
    DenialCode.LIMIT_EXCEEDED: 402,
    DenialCode.INSUFFICIENT_CREDITS: 402,
    DenialCode.PAYMENT_REQUIRED: 402,
    DenialCode.RATE_LIMITED: 429,
}
REFUSAL_MESSAGE = {
    DenialCode.LIMIT_EXCEEDED: "Your team has used all its runs for this period.",
    DenialCode.INSUFFICIENT_CREDITS: "Your team has too few credits left for a test plan.",
    DenialCode.PAYMENT_REQUIRED: "Your team's subscription needs a payment.",
    DenialCode.RATE_LIMITED: "Too many runs at once; try again shortly.",
    DenialCode.MODULE_DISABLED: "Test plans are switched off for your team.",
    DenialCode.TENANT_SUSPENDED: "Your team's account is suspended.",
}


@dataclass(frozen=True)
class Settings:
    tollgate_url: str
    service_key: str
    secret_key: str
    database: str

    @classmethod
    def from_env(cls) -> "Settings":
        service_key = os.environ.get("TOLLGATE_SERVICE_KEY")
        if not service_key:
            raise RuntimeError("Set TOLLGATE_SERVICE_KEY to a Tollgate service key (tgs_…); see docs/flask-example.md")
        return cls(
            tollgate_url=os.environ.get("TOLLGATE_URL", "http://127.0.0.1:8787"),
            service_key=service_key,
            # A random key signs sessions until the process restarts: fine for trying it out.
            secret_key=os.environ.get("APP_SECRET_KEY") or secrets.token_hex(32),
            database=os.environ.get("APP_DATABASE", "flask-ai-app.sqlite3"),
        )


@dataclass(frozen=True)
class Services:
    accounts: Accounts
    tollgate: Client
    model: LocalTestPlanModel


def create_app(settings: Optional[Settings] = None, *, model: Optional[LocalTestPlanModel] = None) -> Flask:
    settings = settings or Settings.from_env()
    if not log.handlers:
        # OWNER_BYPASS, MODEL_FAILED, … on the console; an app with its own logging setup has added a handler already.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    app.extensions["ai_app"] = Services(
        accounts=Accounts(settings.database),
        tollgate=Client(settings.tollgate_url, api_key=settings.service_key, timeout=5, retries=2),
        model=model or LocalTestPlanModel(),
    )
    app.register_blueprint(auth)
    app.register_blueprint(api, url_prefix="/api")
    app.cli.add_command(add_user_command)
    return app


def services() -> Services:
    found: Services = current_app.extensions["ai_app"]
    return found


auth = Blueprint("auth", __name__)
api = Blueprint("api", __name__)


@auth.post("/login")
def login() -> Tuple[Response, int]:
    body = request.get_json(silent=True) or {}
    user = services().accounts.sign_in(str(body.get("email", "")), str(body.get("password", "")))
    if user is None:
        return jsonify(error="INVALID_CREDENTIALS", message="Wrong email or password."), 401
    session.clear()
    session["user_id"] = user.id
    return jsonify(user={"id": user.id, "email": user.email}), 200


@auth.post("/logout")
def logout() -> Tuple[Response, int]:
    session.clear()
    return jsonify(ok=True), 200


@api.before_request
def check_auth() -> Optional[Tuple[Response, int]]:
    """Who is calling, from the app's own session; the Tollgate tenant and user come from the app's records of them."""
    user = services().accounts.get(str(session.get("user_id", "")))
    if user is None:
        return jsonify(error="UNAUTHENTICATED", message="Sign in first."), 401
    g.user_id = user.id
    g.tenant_id = user.tollgate_tenant_id
    g.tollgate_user_id = user.tollgate_user_id
    return None


def acting() -> Tuple[str, str]:
    """The member of which tenant the service key acts for: Tollgate checks the membership and reads the role."""
    return (g.tenant_id, g.tollgate_user_id)


@api.post("/generate-test-plan")
def generate_test_plan() -> Tuple[Response, int]:
    requirements = requirements_of(request.get_json(silent=True))
    if requirements is None:
        return jsonify(error="BAD_REQUEST", message=f'Send {{"requirements": [...]}}: 1 to {MAX_REQUIREMENTS} non-empty strings.'), 400
    app = services()
    plan: Optional[TestPlan] = None
    try:
        # authorize → the model call → settle what it used; released if the call raises.
        with app.tollgate.run(OPERATION, quantity={"words": PLAN_WORDS_RESERVED}, on_behalf_of=acting()) as run:
            plan = app.model.generate_test_plan(requirements)
            run.report(quantity={"words": plan.word_count})
    except Denied as refused:
        return refusal(refused)
    except ModelError as failed:
        log.warning("MODEL_FAILED user_id=%s tenant_id=%s: %s (reservation released)", g.user_id, g.tenant_id, failed)
        return jsonify(error="MODEL_FAILED", message="The model failed; nothing was charged."), 502
    except TollgateError as failed:
        return no_decision(failed) if plan is None else not_settled(failed)
    decision = run.decision
    assert decision is not None and plan is not None
    if decision.bypass:
        log.info("OWNER_BYPASS user_id=%s tenant_id=%s meter=%s decision=%s", g.user_id, g.tenant_id, decision.bypass.meter, decision.decision_id)
    return jsonify(
        test_plan=plan.as_json(),
        credits_charged=run.settlement.charged if run.settlement else None,
        usage=usage_of(decision),
        bypass={"reason": decision.bypass.reason, "meter": decision.bypass.meter} if decision.bypass else None,
    ), 200


@api.get("/usage")
def usage() -> Tuple[Response, int]:
    app = services()
    try:
        runs = app.tollgate.usage(g.tenant_id, on_behalf_of=acting()).meter("runs")
        credits = app.tollgate.credits(g.tenant_id, on_behalf_of=acting())
    except TollgateError as failed:
        return no_decision(failed)
    return jsonify(
        runs={"used": runs.used, "limit": runs.limit, "remaining": runs.remaining, "period_end": runs.period_end} if runs else None,
        credits={"balance": credits.balance, "available": credits.available},
    ), 200


def no_decision(failed: TollgateError) -> Tuple[Response, int]:
    """Tollgate answered no decision: this user may not act in the team (403), or it is out of reach (503)."""
    if isinstance(failed, Forbidden):
        # E.g. USER_DEACTIVATED, or ON_BEHALF_OF_NOT_MEMBER once the user left the team: Tollgate knows before the app does.
        return jsonify(error=failed.code, message="Your account cannot start runs in this team."), 403
    # Fail closed: no decision, no run. (Failing open would be running the model here anyway.)
    return metering_unavailable(failed)


def not_settled(failed: TollgateError) -> Tuple[Response, int]:
    """The plan was made but its run was not settled: the plan is not handed out, or a run that outlived its
    reservation (RESERVATION_EXPIRED), or that Tollgate never heard the end of, would be a free one. Failing
    closed, as for a decision: out of reach (no answer, 5xx) is 503, a refusal 502."""
    log.error("SETTLE_FAILED user_id=%s code=%s request_id=%s: %s (the plan is withheld)", g.user_id, failed.code, failed.request_id, failed)
    if isinstance(failed, (TollgateConnectionError, ServiceUnavailable, ServerError)):
        return metering_unavailable(failed)
    return jsonify(error="RUN_NOT_SETTLED", message="The run could not be charged, so its result is withheld; try again."), 502


def metering_unavailable(failed: TollgateError) -> Tuple[Response, int]:
    log.error("TOLLGATE_UNAVAILABLE user_id=%s request_id=%s: %s", g.user_id, failed.request_id, failed)
    return jsonify(error="METERING_UNAVAILABLE", message="Runs cannot be started right now; try again shortly."), 503


def requirements_of(body: Any) -> Optional[List[str]]:
    found = body.get("requirements") if isinstance(body, dict) else None
    if not isinstance(found, list) or not 1 <= len(found) <= MAX_REQUIREMENTS:
        return None
    if not all(isinstance(item, str) and item.strip() for item in found):
        return None
    return [item.strip() for item in found]


def usage_of(decision: Decision) -> Optional[Dict[str, Any]]:
    """The run meter as the seed's ``usage_data`` spelt it."""
    runs = decision.limit("runs")
    if runs is None:
        return None
    return {"runs_used": runs.used, "runs_limit": runs.limit, "runs_remaining": runs.remaining, "resets_at": runs.resets_at}


def refusal(refused: Denied) -> Tuple[Response, int]:
    code = refused.code
    response = jsonify(error=str(code), message=REFUSAL_MESSAGE.get(code, "This run is not allowed."), usage=usage_of(refused.decision))
    if refused.retry_after_ms is not None:
        response.headers["Retry-After"] = str(math.ceil(refused.retry_after_ms / 1000))
    return response, REFUSAL_STATUS.get(code, 403)


@click.command("add-user")
@click.argument("email")
@click.option("--tenant", "tenant_id", required=True, help="The Tollgate tenant (tnt_…) this user works in.")
@click.option("--user", "tollgate_user_id", required=True, help="The Tollgate user (usr_…) this user is.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True, help="The app password (asked when left out).")
# The app context for any runner (flask's own pushes one, a test runner does not); Flask 2.2 ships it untyped.
@with_appcontext  # type: ignore[misc]
def add_user_command(email: str, tenant_id: str, tollgate_user_id: str, password: str) -> None:
    """Adds an app user, mapped to a Tollgate tenant and user."""
    user = services().accounts.add(email, password, tenant_id, tollgate_user_id)
    click.echo(f"{user.email} ({user.id}) acts as {tollgate_user_id} in {tenant_id}")
