"""One JSON call over HTTP, with the client's timeout and retry rules.

Every call the SDK's own methods make is safe to repeat: ``authorize`` always carries an
idempotency key (the same one on every attempt), settle and release are idempotent on the
server, and the rest only read. So a call is retried, up to ``retries`` times, when it got
no answer (connection refused or broken, timeout, also while a body, an error's included,
was on its way) or the answer was ``429`` or ``503``.
A call that is not safe to repeat (``Client.request`` with a POST or PATCH and no
idempotency key) is retried only when it surely did nothing: a ``429``, a ``503``, or a
connection refused before the request was sent. After a timeout or a broken connection
it may have been carried out, so that failure is raised as it is.
The wait before a retry is the server's ``Retry-After`` when it gave one, else a short
exponential backoff with jitter; a wait longer than ``max_retry_wait`` is not waited
out: the error is raised at once, carrying ``retry_after``.

A redirect is never followed: urllib's own handler sends the request again to wherever
``Location`` points, another host included, with the ``Authorization`` header. Here a
3xx is raised as a ``TollgateError`` naming the location, so the credential goes to
``base_url`` and nowhere else.
"""

import json
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from email.utils import parsedate_to_datetime
from http.client import HTTPException
from typing import IO, Any, Callable, Mapping, Optional, Tuple

from .errors import TollgateConnectionError, TollgateError, TollgateTimeout, error_for_status

USER_AGENT = "tollgate-python/0.1.0"
RETRIED_STATUSES = frozenset({429, 503})
BACKOFF_START_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No new request for a redirect: the 3xx reaches the caller as the HTTPError it is."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> None:
        return None


_OPENER = urllib.request.build_opener(_RefuseRedirects)


@dataclass(frozen=True)
class Answer:
    status: int
    data: Any
    request_id: Optional[str]


class Transport:
    def __init__(
        self,
        base_url: str,
        credential: Callable[[], Optional[str]],
        *,
        timeout: float,
        retries: int,
        max_retry_wait: float,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self.retries = retries
        self.max_retry_wait = max_retry_wait
        self.sleep = sleep

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        query: Optional[Mapping[str, Any]] = None,
        repeatable: bool = True,
    ) -> Answer:
        """Sends the call (again, by the rules above) until it succeeds; raises the last failure's TollgateError.

        ``repeatable``: the call may be sent again after an attempt that got no answer.
        """
        request = self._request(method, path, body, headers or {}, query)
        attempt = 0
        while True:
            try:
                return self._attempt(request)
            except TollgateError as failure:
                wait = None if not repeatable and _maybe_carried_out(failure) else self._retry_wait(failure, attempt)
                if wait is None:
                    raise
            self.sleep(wait)
            attempt += 1

    def _request(
        self, method: str, path: str, body: Optional[Mapping[str, Any]], headers: Mapping[str, str], query: Optional[Mapping[str, Any]]
    ) -> urllib.request.Request:
        url = self.base_url + path
        params = {key: _query_value(value) for key, value in (query or {}).items() if value is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        sent = {"accept": "application/json", "user-agent": USER_AGENT, **headers}
        credential = self.credential()
        if credential:
            sent["authorization"] = f"Bearer {credential}"
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            sent["content-type"] = "application/json"
        return urllib.request.Request(url, data=data, headers=sent, method=method)

    def _attempt(self, request: urllib.request.Request) -> Answer:
        try:
            status, headers, payload = _exchange(request, self.timeout)
        except (urllib.error.URLError, OSError, HTTPException) as broken:
            reason = getattr(broken, "reason", broken)
            where = f"{request.get_method()} {request.full_url}"
            if isinstance(reason, (socket.timeout, TimeoutError)):
                raise TollgateTimeout(f"no answer within {self.timeout} s: {where}") from broken
            raise TollgateConnectionError(f"no answer ({reason}): {where}") from broken
        if status >= 300:
            raise _error_from(status, headers, payload)
        return Answer(status, _json(payload), headers.get("x-request-id"))

    def _retry_wait(self, failure: TollgateError, attempt: int) -> Optional[float]:
        """Seconds to wait before the next attempt, or None when the failure is final."""
        if attempt >= self.retries:
            return None
        if not isinstance(failure, TollgateConnectionError) and failure.status not in RETRIED_STATUSES:
            return None
        if failure.retry_after is not None:
            wait = failure.retry_after
        else:
            wait = min(BACKOFF_CAP_SECONDS, BACKOFF_START_SECONDS * 2**attempt) * random.uniform(0.5, 1.0)
        return wait if wait <= self.max_retry_wait else None


def _exchange(request: urllib.request.Request, timeout: float) -> Tuple[int, Message, bytes]:
    """One attempt's status, headers and whole body.

    An error status is read like any other answer, in the same ``try`` of the caller: a body
    that breaks off, stalls or is reset is a lost answer (a ``TollgateConnectionError`` or
    ``TollgateTimeout``, retried as one) whatever the status before it said.
    """
    try:
        response = _OPENER.open(request, timeout=timeout)
    except urllib.error.HTTPError as refused:
        response = refused
    with response:
        return int(response.getcode()), response.headers, response.read()


def _maybe_carried_out(failure: TollgateError) -> bool:
    """No answer, and the request may have reached the server: a timeout or a connection broken after it was sent."""
    if not isinstance(failure, TollgateConnectionError):
        return False
    reason = getattr(failure.__cause__, "reason", failure.__cause__)
    return not isinstance(reason, ConnectionRefusedError)


def _error_from(status: int, headers: Message, payload: bytes) -> TollgateError:
    body = _json(payload)
    error = body.get("error") if isinstance(body, dict) else None
    error = error if isinstance(error, dict) else {}
    request_id = error.get("requestId") or headers.get("x-request-id")
    message = error.get("message") or f"HTTP {status}"
    if 300 <= status < 400:
        message = f"redirected to {headers.get('location')}: not followed; the credential is sent to base_url alone (set it to where Tollgate answers)"
    return error_for_status(status)(
        message,
        code=error.get("code"),
        status=status,
        request_id=request_id,
        retry_after=_retry_after_seconds(headers.get("retry-after")),
        body=body if isinstance(body, dict) else None,
    )


def _retry_after_seconds(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(payload: bytes) -> Any:
    if not payload:
        return None
    try:
        return json.loads(payload.decode("utf-8"))
    except ValueError:
        return None


def _query_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)

