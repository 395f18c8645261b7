"""What Tollgate answers, as typed values. Each keeps the JSON it was read from in ``raw``."""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional


class DenialCode(str, Enum):
    """The decision's ``code``: ``OK`` or why the call was refused.

    A code this SDK does not know yet (a newer server) still parses: it becomes a member
    of its own, equal to its string, so ``decision.code == "SOME_NEW_CODE"`` works and no
    call fails because the server learnt a new reason.
    """

    OK = "OK"
    TENANT_SUSPENDED = "TENANT_SUSPENDED"
    TENANT_CLOSED = "TENANT_CLOSED"
    PAYMENT_REQUIRED = "PAYMENT_REQUIRED"
    MODULE_DISABLED = "MODULE_DISABLED"
    NOT_IN_PLAN = "NOT_IN_PLAN"
    RATE_LIMITED = "RATE_LIMITED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    INSUFFICIENT_CREDITS = "INSUFFICIENT_CREDITS"
    # In API.md's list; this server answers a bad credential with a 401 instead (raised as Unauthenticated).
    UNAUTHENTICATED = "UNAUTHENTICATED"

    @classmethod
    def _missing_(cls, value: object) -> Optional["DenialCode"]:
        if not isinstance(value, str):
            return None
        unknown = str.__new__(cls, value)
        unknown._name_ = value
        unknown._value_ = value
        return unknown

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


@dataclass(frozen=True)
class Limit:
    """One limit the decision touched (``runs``, ``concurrentRuns``, …); ``limit`` None is unlimited."""

    meter: str
    used: int
    limit: Optional[int]
    remaining: Optional[int]
    resets_at: Optional[str]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Limit":
        return cls(data["meter"], data["used"], data.get("limit"), data.get("remaining"), data.get("resetsAt"))


@dataclass(frozen=True)
class CreditBalance:
    balance: int
    reserved: int
    available: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "CreditBalance":
        return cls(data["balance"], data["reserved"], data["available"])


@dataclass(frozen=True)
class Bypass:
    """A role let the call past a full meter (``reason`` is the role, e.g. ``owner``)."""

    reason: str
    meter: str


@dataclass(frozen=True)
class Decision:
    """The answer of ``POST /v1/authorize``. ``allowed`` False is a refusal, not an error."""

    allowed: bool
    code: DenialCode
    decision_id: str
    tenant_id: str
    reservation_id: Optional[str]
    reserved_credits: Optional[int]
    route: Dict[str, Any]
    limits: List[Limit]
    credits: Optional[CreditBalance]
    bypass: Optional[Bypass]
    retry_after_ms: Optional[int]
    replayed: bool
    idempotency_key: str
    request_id: Optional[str]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any], *, idempotency_key: str, request_id: Optional[str]) -> "Decision":
        reservation = data.get("reservation")
        bypass = data.get("bypass")
        credits = data.get("credits")
        return cls(
            allowed=bool(data["allowed"]),
            code=DenialCode(data["code"]),
            decision_id=data["decisionId"],
            tenant_id=data["tenant"]["id"],
            reservation_id=reservation["id"] if reservation else None,
            reserved_credits=reservation["credits"] if reservation else None,
            route=dict(data.get("route") or {}),
            limits=[Limit.from_json(limit) for limit in data.get("limits", [])],
            credits=CreditBalance.from_json(credits) if credits else None,
            bypass=Bypass(bypass["reason"], bypass["meter"]) if bypass else None,
            retry_after_ms=data.get("retryAfterMs"),
            replayed=bool(data.get("replayed", False)),
            idempotency_key=idempotency_key,
            request_id=request_id,
            raw=data,
        )

    def limit(self, meter: str) -> Optional[Limit]:
        """The limit of one meter, if the decision touched it."""
        return next((limit for limit in self.limits if limit.meter == meter), None)


@dataclass(frozen=True)
class Resolution:
    """A reservation after settle or release: what it held and charged, and the balance after."""

    reservation_id: str
    status: str
    held: int
    charged: int
    credits: CreditBalance
    replayed: bool
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Resolution":
        reservation = data["reservation"]
        return cls(
            reservation_id=reservation["id"],
            status=reservation["status"],
            held=reservation["credits"],
            charged=reservation["charged"],
            credits=CreditBalance.from_json(data["credits"]),
            replayed=bool(data.get("replayed", False)),
            raw=data,
        )


@dataclass(frozen=True)
class Reservation:
    """One reservation as a settle would find it now.

    ``status`` is ``held`` (a settle can still charge it), ``settled`` (``charged`` is what
    it cost), ``released`` or ``expired``; ``held`` is what it reserved.
    """

    reservation_id: str
    status: str
    held: int
    charged: int
    refunded: int
    operation: Optional[str]
    model: Optional[str]
    expires_at: str
    created_at: str
    resolved_at: Optional[str]
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Reservation":
        return cls(
            reservation_id=data["id"],
            status=data["status"],
            held=data["credits"],
            charged=data["charged"],
            refunded=data.get("refunded", 0),
            operation=data.get("operation"),
            model=data.get("model"),
            expires_at=data["expiresAt"],
            created_at=data["createdAt"],
            resolved_at=data.get("resolvedAt"),
            raw=data,
        )


@dataclass(frozen=True)
class MeterUsage:
    meter: str
    used: int
    limit: Optional[int]
    remaining: Optional[int]
    period_start: str
    period_end: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "MeterUsage":
        return cls(data["meter"], data["used"], data.get("limit"), data.get("remaining"), data["periodStart"], data["periodEnd"])


@dataclass(frozen=True)
class Usage:
    """A tenant's meters in the current period, and its concurrent runs."""

    meters: List[MeterUsage]
    active_runs: int
    concurrent_runs_limit: Optional[int]
    period_start: str
    period_end: str
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Usage":
        runs = data.get("concurrentRuns") or {}
        return cls(
            meters=[MeterUsage.from_json(meter) for meter in data["usage"]],
            active_runs=runs.get("active", 0),
            concurrent_runs_limit=runs.get("limit"),
            period_start=data["periodStart"],
            period_end=data["periodEnd"],
            raw=data,
        )

    def meter(self, name: str) -> Optional[MeterUsage]:
        return next((meter for meter in self.meters if meter.meter == name), None)


@dataclass(frozen=True)
class CostPreview:
    """What an operation would cost (``basis`` says how it was priced); nothing is held."""

    operation: str
    module: str
    meter: Optional[str]
    credits: int
    basis: str
    raw: Dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "CostPreview":
        return cls(data["operation"], data["module"], data.get("meter"), data["credits"], data["basis"], data)


@dataclass(frozen=True)
class Page:
    """One page of a newest-first list; pass ``next_cursor`` back for the next (None: the last page)."""

    items: List[Dict[str, Any]]
    next_cursor: Optional[str]
