"""Tollgate's Python client: ask before every expensive AI run, settle after it.

    from tollgate import Client, Denied
    tg = Client("http://127.0.0.1:8787", api_key="tg_…")
    with tg.run("content_generation", quantity={"words": 1200}) as run:
        text = generate(...)
        run.report(quantity={"words": len(text.split())})

Standard library only; Python 3.9 or newer.
"""

from .client import Client, OnBehalfOf
from .errors import (
    AlreadyResolved,
    BadRequest,
    Conflict,
    Denied,
    ExpectationFailed,
    Forbidden,
    HeadersTooLarge,
    NotFound,
    PaymentRequired,
    RateLimited,
    RequestTimeout,
    ServerError,
    ServiceUnavailable,
    TollgateConnectionError,
    TollgateError,
    TollgateTimeout,
    Unauthenticated,
)
from .models import Bypass, CostPreview, CreditBalance, Decision, DenialCode, Limit, MeterUsage, Page, Reservation, Resolution, Usage
from .run import Run

__version__ = "0.1.0"

__all__ = [
    "AlreadyResolved",
    "BadRequest",
    "Bypass",
    "Client",
    "Conflict",
    "CostPreview",
    "CreditBalance",
    "Decision",
    "Denied",
    "DenialCode",
    "ExpectationFailed",
    "Forbidden",
    "HeadersTooLarge",
    "Limit",
    "MeterUsage",
    "NotFound",
    "OnBehalfOf",
    "Page",
    "PaymentRequired",
    "RateLimited",
    "RequestTimeout",
    "Reservation",
    "Resolution",
    "Run",
    "ServerError",
    "ServiceUnavailable",
    "TollgateConnectionError",
    "TollgateError",
    "TollgateTimeout",
    "Unauthenticated",
    "Usage",
]
