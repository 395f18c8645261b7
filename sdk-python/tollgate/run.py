"""``with tg.run(...) as run:`` — reserve before the AI call, settle or release after it."""

from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Type

from .errors import Denied, TollgateError
from .models import Decision, Resolution

if TYPE_CHECKING:
    from .client import Client


class Run:
    """One metered run. Entering it asks for the decision; leaving it closes the reservation.

    - Refused: entering raises ``Denied(code, decision)``; nothing was consumed.
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
