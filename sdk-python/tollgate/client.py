"""The Tollgate client: the decision, closing its reservation, and the reads a backend needs."""

import functools
import time
import urllib.parse
import uuid
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from .errors import TollgateError
from .models import CostPreview, CreditBalance, Decision, Page, Reservation, Resolution, Usage
from .run import Run
from .transport import Answer, Transport

OnBehalfOf = Tuple[str, str]
"""``(tenant_id, user_id)``: the member of a tenant a service key (``tgs_…``) acts for."""

Quantity = Mapping[str, int]

# HTTP's idempotent methods: sending one again does what sending it once did.
REPEATABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Client:
    """A client for one Tollgate server, with one credential.

    ``api_key`` is a tenant API key (``tg_…``) or a service key (``tgs_…``); ``token`` a
    Tollgate access token or an identity provider's JWT, or a function returning the
    current one (called before every request, so it may refresh). ``timeout`` bounds each
    attempt in seconds; ``retries`` is how many times a call that got no answer, a 429 or
    a 503 is sent again (a call that may be repeated: a POST or PATCH without an
    ``idempotencyKey`` only after a 429), waiting what ``Retry-After`` says (at most ``max_retry_wait``
    seconds; a longer wait raises at once). A client is safe to share between threads.

    ``tenant_id`` (user credentials) and ``on_behalf_of`` (service keys) on each call name
    the tenant, and for a service key the member, it acts in; an API key acts in its own
    tenant and needs neither.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: Optional[str] = None,
        token: Union[str, Callable[[], str], None] = None,
        timeout: float = 10.0,
        retries: int = 2,
        max_retry_wait: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_key is not None and token is not None:
            raise ValueError("pass api_key or token, not both")
        credential: Callable[[], Optional[str]]
        if callable(token):
            credential = token
        else:
            fixed = api_key if api_key is not None else token
            credential = lambda: fixed  # noqa: E731 - a fixed credential is a function like a refreshing one
        self._transport = Transport(
            base_url, credential, timeout=timeout, retries=retries, max_retry_wait=max_retry_wait, sleep=sleep
        )

    # -- the decision ---------------------------------------------------------------

    def authorize(
        self,
        operation: str,
        *,
        module: Optional[str] = None,
        model: Optional[str] = None,
        quantity: Optional[Quantity] = None,
        idempotency_key: Optional[str] = None,
        tenant_id: Optional[str] = None,
        on_behalf_of: Optional[OnBehalfOf] = None,
    ) -> Decision:
        """May this caller run ``operation`` now, and what does it cost? A refusal is a Decision with ``allowed`` False.

        Without an ``idempotency_key`` the SDK makes one for this call, so that a retry
        (after a timeout, say) returns the first decision instead of admitting twice;
        ``decision.idempotency_key`` says which was sent. Pass your own to make a retry
        of the whole operation (e.g. a job re-run) idempotent too: ``run()`` then resumes the
        job's run while its reservation is held, and raises ``AlreadyResolved`` once that run
        has ended (see ``Run``).
        """
        key = idempotency_key or f"sdk-{uuid.uuid4().hex}"
        body: Dict[str, Any] = {"operation": operation, "idempotencyKey": key}
        optional = {"module": module, "model": model, "quantity": dict(quantity) if quantity is not None else None}
        body.update({name: value for name, value in optional.items() if value is not None})
        answer = self._transport.call("POST", "/v1/authorize", body=body, headers=_acting(tenant_id, on_behalf_of))
        return Decision.from_json(_object(answer), idempotency_key=key, request_id=answer.request_id)

    def settle(
        self,
        reservation_id: str,
        quantity: Optional[Quantity] = None,
        credits: Optional[int] = None,
        *,
        tenant_id: Optional[str] = None,
        on_behalf_of: Optional[OnBehalfOf] = None,
    ) -> Resolution:
        """Charges the actual cost: ``credits``, else the price of ``quantity``, else the whole reservation; the rest is released.

        Idempotent: settling again with the same amount answers the same (``replayed``).
        """
        body: Dict[str, Any] = {}
        if quantity is not None:
            body["quantity"] = dict(quantity)
        if credits is not None:
            body["credits"] = credits
        path = f"/v1/reservations/{_segment(reservation_id)}/settle"
        return Resolution.from_json(_object(self._transport.call("POST", path, body=body, headers=_acting(tenant_id, on_behalf_of))))

    def release(self, reservation_id: str, *, tenant_id: Optional[str] = None, on_behalf_of: Optional[OnBehalfOf] = None) -> Resolution:
        """Gives the whole reservation back, nothing charged. Idempotent."""
        path = f"/v1/reservations/{_segment(reservation_id)}/release"
        return Resolution.from_json(_object(self._transport.call("POST", path, headers=_acting(tenant_id, on_behalf_of))))

    def reservation(self, reservation_id: str, *, tenant_id: Optional[str] = None, on_behalf_of: Optional[OnBehalfOf] = None) -> Reservation:
        """One reservation as a settle would find it now: ``held``, ``settled`` (with ``charged``), ``released`` or ``expired``.

        Whoever may settle it may read it.
        """
        path = f"/v1/reservations/{_segment(reservation_id)}"
        return Reservation.from_json(_object(self._transport.call("GET", path, headers=_acting(tenant_id, on_behalf_of))))

    def run(
        self,
        operation: str,
        *,
        module: Optional[str] = None,
        model: Optional[str] = None,
        quantity: Optional[Quantity] = None,
        idempotency_key: Optional[str] = None,
        tenant_id: Optional[str] = None,
        on_behalf_of: Optional[OnBehalfOf] = None,
    ) -> Run:
        """``with tg.run(op, quantity=...) as run: ...; run.report(quantity=...)`` — see ``Run`` for what exit does."""
        authorize = functools.partial(
            self.authorize, operation, module=module, model=model, quantity=quantity,
            idempotency_key=idempotency_key, tenant_id=tenant_id, on_behalf_of=on_behalf_of,
        )
        return Run(self, authorize, {"tenant_id": tenant_id, "on_behalf_of": on_behalf_of})

    # -- reads ----------------------------------------------------------------------

    def preview_cost(
        self,
        operation: str,
        quantity: Optional[Quantity] = None,
        model: Optional[str] = None,
        *,
        tenant_id: Optional[str] = None,
        on_behalf_of: Optional[OnBehalfOf] = None,
    ) -> CostPreview:
        """What ``operation`` would cost for ``quantity`` (and ``model``); holds nothing.

        Priced on the provider route the acting tenant would take (its own account, or the
        platform's): ``tenant_id`` / ``on_behalf_of`` name that tenant as for ``authorize``.
        A credential that implies no tenant it may use gets the platform's price (``raw["route"]`` None).
        """
        body: Dict[str, Any] = {"operation": operation}
        if quantity is not None:
            body["quantity"] = dict(quantity)
        if model is not None:
            body["model"] = model
        answer = self._transport.call("POST", "/v1/costs/preview", body=body, headers=_acting(tenant_id, on_behalf_of))
        return CostPreview.from_json(_object(answer))

    def usage(self, tenant_id: str, *, on_behalf_of: Optional[OnBehalfOf] = None) -> Usage:
        """Every meter of the tenant in the current period (an API key needs scope ``read``)."""
        return Usage.from_json(self._tenant_get(tenant_id, "usage", on_behalf_of))

    def usage_events(
        self, tenant_id: str, *, cursor: Optional[str] = None, limit: Optional[int] = None, on_behalf_of: Optional[OnBehalfOf] = None
    ) -> Page:
        """The usage log, newest first; role bypasses have ``bypass`` true."""
        data = self._tenant_get(tenant_id, "usage/events", on_behalf_of, {"cursor": cursor, "limit": limit})
        return Page(data["events"], data.get("nextCursor"))

    def credits(self, tenant_id: str, *, on_behalf_of: Optional[OnBehalfOf] = None) -> CreditBalance:
        """The tenant's credit balance, what reservations hold, and what is available."""
        return CreditBalance.from_json(self._tenant_get(tenant_id, "credits", on_behalf_of))

    def ledger(
        self, tenant_id: str, *, cursor: Optional[str] = None, limit: Optional[int] = None, on_behalf_of: Optional[OnBehalfOf] = None
    ) -> Page:
        """The append-only credit ledger, newest first."""
        data = self._tenant_get(tenant_id, "credits/ledger", on_behalf_of, {"cursor": cursor, "limit": limit})
        return Page(data["entries"], data.get("nextCursor"))

    # -- any other route ------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Optional[Mapping[str, Any]] = None,
        query: Optional[Mapping[str, Any]] = None,
        tenant_id: Optional[str] = None,
        on_behalf_of: Optional[OnBehalfOf] = None,
    ) -> Any:
        """Calls any route of the API (``path`` such as ``/v1/me``) with this client's credential and rules; returns the JSON.

        A POST or PATCH without an ``idempotencyKey`` in ``json`` is not sent again after a
        timeout, a broken connection or a 503 (it may have been carried out); a 429 or a 408
        (the server did not carry it out) is retried as for every call.
        """
        repeatable = method.upper() in REPEATABLE_METHODS or (json is not None and json.get("idempotencyKey") is not None)
        return self._transport.call(method, path, body=json, query=query, headers=_acting(tenant_id, on_behalf_of), repeatable=repeatable).data

    def _tenant_get(
        self, tenant_id: str, route: str, on_behalf_of: Optional[OnBehalfOf], query: Optional[Mapping[str, Any]] = None
    ) -> Dict[str, Any]:
        path = f"/v1/tenants/{_segment(tenant_id)}/{route}"
        return _object(self._transport.call("GET", path, query=query, headers=_acting(None, on_behalf_of)))


def _acting(tenant_id: Optional[str], on_behalf_of: Optional[OnBehalfOf]) -> Dict[str, str]:
    """The headers naming the tenant of a user credential, or the member a service key acts for."""
    headers: Dict[str, str] = {}
    if tenant_id:
        headers["tollgate-tenant"] = tenant_id
    if on_behalf_of:
        acting_tenant, acting_user = on_behalf_of
        headers["tollgate-on-behalf-of"] = f"{acting_tenant}:{acting_user}"
    return headers


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _object(answer: Answer) -> Dict[str, Any]:
    if not isinstance(answer.data, dict):
        raise TollgateError(f"expected a JSON object, got {type(answer.data).__name__}", status=answer.status, request_id=answer.request_id)
    return answer.data
