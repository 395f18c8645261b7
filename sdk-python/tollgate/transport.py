"""One JSON call over HTTP, with the client's timeout and retry rules.

Every call the SDK's own methods make is safe to repeat: ``authorize`` always carries an
idempotency key (the same one on every attempt), settle and release are idempotent on the
server, and the rest only read. So a call is retried, up to ``retries`` times, when it got
no answer (connection refused or broken, timeout, also while a body, an error's included,
was on its way) or the answer was ``408``, ``429`` or ``503``.
A call that is not safe to repeat (``Client.request`` with a POST or PATCH and no
idempotency key) is retried only when it surely did nothing: a ``429`` (a rate limit
refuses a call before it runs), a ``408`` (the request had not all arrived when the
server's time for it ran out: it read none of it, below its routes) or a connection
refused before the request was sent.
After a timeout, a broken connection or a ``503`` it may have been carried out (a ``503
DATABASE_UNAVAILABLE`` can follow a commit whose answer was lost: the connection broke
while the commit was on its way), so that failure is raised as it is.
The wait before a retry is the server's ``Retry-After`` when it gave one, else a short
exponential backoff with jitter; a wait longer than ``max_retry_wait`` is not waited
out: the error is raised at once, carrying ``retry_after``.

``timeout`` is a deadline for the whole attempt: connecting, sending, the status line, the
headers and the whole body, an error's too. urllib alone only bounds each wait for data,
so a server (or a proxy) that drips one byte a second would hold a call for as long as
it likes; here every read and write of the connection waits at most what is left.

A redirect is never followed: urllib's own handler sends the request again to wherever
``Location`` points, another host included, with the ``Authorization`` header. Here a
3xx is raised as a ``TollgateError`` naming the location, so the credential goes to
``base_url`` and nowhere else.
"""

import functools
import http.client
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
from typing import IO, TYPE_CHECKING, Any, Callable, Mapping, Optional, Tuple, cast

from .errors import TollgateConnectionError, TollgateError, TollgateTimeout, error_for_status

USER_AGENT = "tollgate-python/0.1.0"
RETRIED_STATUSES = frozenset({408, 429, 503})
BACKOFF_START_SECONDS = 0.2
BACKOFF_CAP_SECONDS = 5.0


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """No new request for a redirect: the 3xx reaches the caller as the HTTPError it is."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> None:
        return None


class _Deadline:
    """The end of one attempt: ``left()`` is what remains, or ``socket.timeout`` once it has passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise socket.timeout(f"the attempt's {self.seconds} s ran out")
        return left


class _DeadlineSocket:
    """A connected socket whose every read and write waits at most what is left of the attempt.

    http.client reads the status line, the headers and the body through ``makefile()``; the
    reader made here is the standard library's own (``socket.socket.makefile`` over this
    object), so its reads come to ``recv_into`` below, and it counts its references here
    (``_io_refs``, ``_decref_socketios``) as it would on the socket: urllib closes the
    socket before the body is read, and the socket really closes with the reader's close.
    """

    def __init__(self, sock: socket.socket, deadline: _Deadline) -> None:
        self._sock = sock
        self._deadline = deadline
        self._io_refs = 0
        self._closed = False

    def recv_into(self, buffer: Any, *args: Any) -> int:
        self._sock.settimeout(self._deadline.left())
        return self._sock.recv_into(buffer, *args)

    def sendall(self, data: Any, *args: Any) -> None:
        self._sock.settimeout(self._deadline.left())
        self._sock.sendall(data, *args)

    def makefile(self, *args: Any, **kwargs: Any) -> Any:
        return socket.socket.makefile(cast(socket.socket, self), *args, **kwargs)

    def _decref_socketios(self) -> None:
        if self._io_refs > 0:
            self._io_refs -= 1
        if self._closed:
            self.close()

    def close(self) -> None:
        self._closed = True
        if self._io_refs <= 0:
            self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


if TYPE_CHECKING:
    _Connection = http.client.HTTPConnection
else:
    _Connection = object


class _WithinDeadline(_Connection):
    """A connection (mixed into http.client's) that connects, and then reads and writes, within a deadline."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = self._connect_within  # http.client's hook for socket.create_connection

    def _connect_within(self, address: Tuple[str, int], timeout: Any, source_address: Any = None) -> socket.socket:
        sock = socket.create_connection(address, self._deadline.left(), source_address)
        # What follows on the bare socket, a proxy's CONNECT or the TLS handshake (which ssl
        # bounds as a whole by the socket's timeout), gets what is left, not a new allowance.
        sock.settimeout(self._deadline.left())
        return sock

    def connect(self) -> None:
        super().connect()
        self.sock = _DeadlineSocket(self.sock, self._deadline)


class _DeadlineHTTPConnection(_WithinDeadline, http.client.HTTPConnection):
    pass


class _DeadlineHTTPSConnection(_WithinDeadline, http.client.HTTPSConnection):
    pass


class _OpenWithinDeadline(urllib.request.AbstractHTTPHandler):
    """Opens each request on a connection whose deadline is the request's ``timeout`` from now."""

    def do_open(self, http_class: Any, req: urllib.request.Request, **http_conn_args: Any) -> http.client.HTTPResponse:
        if isinstance(req.timeout, (int, float)):
            within = _DeadlineHTTPSConnection if issubclass(http_class, http.client.HTTPSConnection) else _DeadlineHTTPConnection
            http_class = functools.partial(within, deadline=_Deadline(req.timeout))
        return super().do_open(http_class, req, **http_conn_args)


class _HTTPHandler(_OpenWithinDeadline, urllib.request.HTTPHandler):
    pass


class _HTTPSHandler(_OpenWithinDeadline, urllib.request.HTTPSHandler):
    pass


_OPENER = urllib.request.build_opener(_RefuseRedirects, _HTTPHandler, _HTTPSHandler)


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
    """The request may have been carried out: a 503, or no answer after it was sent (a timeout, a connection broken)."""
    if failure.status == 503:
        return True
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

