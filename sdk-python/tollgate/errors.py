"""Errors: a call that failed (``TollgateError`` and its kinds), a run that was refused (``Denied``)
and a run replayed after it ended (``AlreadyResolved``).

Neither of the last two is a ``TollgateError``: code that catches ``TollgateError`` to
carry on while Tollgate is unreachable must not carry on past a refusal, nor run work
again that was already paid for or given up.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional, Type

if TYPE_CHECKING:
    from .models import Decision, DenialCode, Reservation


class TollgateError(Exception):
    """A call Tollgate answered with an error, or that got no answer.

    ``code`` is the catalog code (``RESERVATION_NOT_FOUND``, ``RATE_LIMITED``, … see the
    server's docs/errors.md), ``status`` the HTTP status, ``request_id`` the server's
    ``x-request-id`` (quote it when reporting a problem). All three are None when no
    answer came (``TollgateConnectionError``).
    """

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Optional[Dict[str, Any]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        """Seconds the server asked the caller to wait (``Retry-After``), when it said."""
        self.body = body

    def __str__(self) -> str:
        parts = [f"{self.code}: {self.message}" if self.code else self.message]
        if self.status is not None:
            parts.append(f"status {self.status}")
        if self.request_id:
            parts.append(f"request {self.request_id}")
        return " · ".join(parts)


class BadRequest(TollgateError):
    """400 (and 405, 413, 415; 417 and 431 are kinds of it): the request is wrong and nothing was written; do not retry it as is."""


class ExpectationFailed(BadRequest):
    """417: an ``Expect`` other than ``100-continue``; nothing was read. Send it again without that header."""


class HeadersTooLarge(BadRequest):
    """431: the request line and headers are over what the server reads (16 KiB), a credential or a header too long; nothing was read."""


class Unauthenticated(TollgateError):
    """401: the credential is unknown, revoked or expired."""


class PaymentRequired(TollgateError):
    """402: the tenant's subscription is not in good standing."""


class Forbidden(TollgateError):
    """403: the credential may not do this (role, scope, tenant suspended, on-behalf-of missing)."""


class NotFound(TollgateError):
    """404: no such object, or one of another tenant (the two are indistinguishable on purpose)."""


class Conflict(TollgateError):
    """409: e.g. an idempotency key reused for another request, a reservation already resolved or expired."""


class RequestTimeout(TollgateError):
    """408 after the client's retries: the server had not received the whole request within its
    ``http.requestTimeoutSeconds`` (a stalled upload, a link too slow), so it read none of it
    and did nothing. Not ``TollgateTimeout``, which is the client's own ``timeout``.
    """


class RateLimited(TollgateError):
    """429 after the retries the client allows; ``retry_after`` says when to come back."""


class ServiceUnavailable(TollgateError):
    """503 after the client's retries: the database or the rate-limit store is out of reach."""


class ServerError(TollgateError):
    """Any other 5xx."""


class TollgateConnectionError(TollgateError):
    """No answer: the connection was refused or broke (after the client's retries)."""


class TollgateTimeout(TollgateConnectionError, TimeoutError):
    """No answer within the client's ``timeout`` (after its retries)."""


_BY_STATUS: Dict[int, Type[TollgateError]] = {
    400: BadRequest,
    401: Unauthenticated,
    402: PaymentRequired,
    403: Forbidden,
    404: NotFound,
    405: BadRequest,
    408: RequestTimeout,
    409: Conflict,
    413: BadRequest,
    415: BadRequest,
    417: ExpectationFailed,
    429: RateLimited,
    431: HeadersTooLarge,
    503: ServiceUnavailable,
}


def error_for_status(status: int) -> Type[TollgateError]:
    """The error class for an HTTP status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else TollgateError


class Denied(Exception):
    """Raised by ``Client.run()`` when Tollgate refuses the run: ``code`` says why, ``decision`` is the whole answer."""

    def __init__(self, code: "DenialCode", decision: "Decision") -> None:
        super().__init__(f"Tollgate refused the run: {code}")
        self.code = code
        self.decision = decision

    @property
    def retry_after_ms(self) -> Optional[int]:
        """For ``RATE_LIMITED``: milliseconds until the tenant's bucket has room again."""
        return self.decision.retry_after_ms


class AlreadyResolved(Exception):
    """Raised by ``Client.run()``, before the block runs, when its decision was a replay (an
    ``idempotency_key`` used before) and that earlier run's reservation is no longer held.

    ``status`` is ``settled`` (the work was done and paid for: ``charged``), or ``released``
    or ``expired`` (the earlier attempt failed or gave up; a new attempt needs a new
    idempotency key). ``reservation`` is the server's as it is now, ``decision`` the replay.
    """

    def __init__(self, decision: "Decision", reservation: "Reservation") -> None:
        charged = f", {reservation.charged} credits charged" if reservation.status == "settled" else ""
        retry = "" if reservation.status == "settled" else "; run it again under a new idempotency key"
        super().__init__(
            f"run() with idempotency key {decision.idempotency_key!r} already ran: its reservation "
            f"{reservation.reservation_id} is {reservation.status}{charged}; the block is not run again{retry}"
        )
        self.decision = decision
        self.reservation = reservation

    @property
    def status(self) -> str:
        """``settled``, ``released`` or ``expired``."""
        return self.reservation.status

    @property
    def charged(self) -> int:
        """What the earlier run was charged (0 unless settled)."""
        return self.reservation.charged
