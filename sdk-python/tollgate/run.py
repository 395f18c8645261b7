"""``with tg.run(...) as run:`` — reserve before the AI call, settle or release after it."""

from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Type

from .errors import AlreadyResolved, Denied, TollgateError
from .models import Decision, Resolution

if TYPE_CHECKING:
    from .client import Client


class Run:
    """One metered run. Entering it asks for the decision; leaving it closes the reservation.

    - Refused: entering raises ``Denied(code, decision)``; nothing was consumed.
    - Replayed (an ``idempotency_key`` used before: the server answers the first decision
      and admits nothing more): entering reads its reservation first. Still held, the
      earlier attempt never closed it (it crashed, or lost the answer): the block runs and
      the reservation is closed as below (``resumed`` is True). Settled, released or
      expired, that run is over: entering raises ``AlreadyResolved`` (``status``, and what
      was ``charged``) and the block never runs — one charge never buys the work twice, and
      a given-up attempt is not redone where it could not be settled. A run still in flight
      under the same key also reads as held: one key, one run at a time.
    - The block finishes: the reservation is settled with what ``report()`` said, or, when
      nothing was reported, with the whole reserved amount (the work was done, and what
      was reserved is what the caller asked to be allowed; a forgotten ``report()`` must
      not make runs free). ``settlement`` holds the result; a settle that fails raises.
    - The block raises: the reservation is released (nothing charged; the run counts
      against ``runs`` all the same, since it was admitted) and the block's exception
      propagates. A release that fails is not raised over it: the reservation then
      expires on its own after the server's ``reservationTtlSeconds``.
    """

    def __init__(self, client: "Client", authorize: Callable[[], Decision], tenant: Mapping[str, Any]) -> None:
        self._client = client
        self._authorize = authorize
        self._tenant = dict(tenant)
        self._reported: Optional[Dict[str, Any]] = None
        self.decision: Optional[Decision] = None
        self.settlement: Optional[Resolution] = None
        self.released: Optional[Resolution] = None
        self.resumed = False
        """True when the decision was a replay whose reservation was still held: this run finishes an earlier attempt's."""

    @property
    def reservation_id(self) -> Optional[str]:
        return self.decision.reservation_id if self.decision else None

    def report(self, *, quantity: Optional[Mapping[str, int]] = None, credits: Optional[int] = None) -> None:
        """What the run actually used (e.g. ``quantity={"words": 900}``), charged on exit; a later report replaces this one."""
        if quantity is None and credits is None:
            raise ValueError("report a quantity or credits")
        self._reported = {"quantity": dict(quantity) if quantity is not None else None, "credits": credits}

    def __enter__(self) -> "Run":
        if self.decision is not None:
            raise RuntimeError("a run is entered once; call tg.run() again for another")
        self.decision = self._authorize()
        if not self.decision.allowed:
            raise Denied(self.decision.code, self.decision)
        # An admitted decision always holds a reservation; a replayed one may name a run that has ended.
        reservation_id = self.decision.reservation_id
        if self.decision.replayed and reservation_id is not None:
            reservation = self._client.reservation(reservation_id, **self._tenant)
            if reservation.status != "held":
                raise AlreadyResolved(self.decision, reservation)
            self.resumed = True
        return self

    def __exit__(
        self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException], traceback: Optional[TracebackType]
    ) -> None:
        reservation_id = self.reservation_id
        if reservation_id is None:
            return
        if exc_type is not None:
            try:
                self.released = self._client.release(reservation_id, **self._tenant)
            except TollgateError:
                pass
            return
        reported = self._reported or {}
        self.settlement = self._client.settle(
            reservation_id, quantity=reported.get("quantity"), credits=reported.get("credits"), **self._tenant
        )
