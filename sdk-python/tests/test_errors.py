"""Errors carry the catalog code, the HTTP status and the request id (a real Tollgate answers each)."""

import unittest

from tollgate import (
    BadRequest,
    Client,
    Conflict,
    Forbidden,
    NotFound,
    TollgateError,
    Unauthenticated,
)

from .tollgate_server import ServerTestCase


class ErrorsTest(ServerTestCase):
    def assert_error(self, error: TollgateError, code: str, status: int) -> None:
        self.assertEqual((error.code, error.status), (code, status))
        self.assertTrue(error.request_id and error.request_id.startswith("req_"), error.request_id)
        self.assertIn(error.request_id or "", str(error))
        self.assertIn(code, str(error))

    def test_an_unknown_reservation_is_not_found(self) -> None:
        with self.assertRaises(NotFound) as caught:
            self.tg.settle("res_01JAAAAAAAAAAAAAAAAAAAAAAA")
        self.assert_error(caught.exception, "RESERVATION_NOT_FOUND", 404)

    def test_another_tenants_reservation_is_the_same_not_found(self) -> None:
        other = self.fx.signup("other")
        theirs = Client(self.fx.url, api_key=self.fx.api_key(other)).authorize("clustering")

        with self.assertRaises(NotFound) as caught:
            self.tg.release(theirs.reservation_id or "")
        self.assert_error(caught.exception, "RESERVATION_NOT_FOUND", 404)

    def test_a_bad_credential_is_unauthenticated(self) -> None:
        with self.assertRaises(Unauthenticated) as caught:
            Client(self.fx.url, api_key="not-a-key").authorize("clustering")
        self.assert_error(caught.exception, "UNAUTHENTICATED", 401)

    def test_an_unknown_operation_is_a_bad_request(self) -> None:
        with self.assertRaises(BadRequest) as caught:
            self.tg.authorize("no_such_operation")
        self.assert_error(caught.exception, "OPERATION_NOT_FOUND", 400)

    def test_a_key_without_the_read_scope_may_not_read_usage(self) -> None:
        decide_only = Client(self.fx.url, api_key=self.fx.api_key(self.owner, scopes=["authorize"]))
        with self.assertRaises(Forbidden) as caught:
            decide_only.usage(self.owner.tenant_id)
        self.assert_error(caught.exception, "INSUFFICIENT_SCOPE", 403)

    def test_a_service_key_must_name_the_member_it_acts_for(self) -> None:
        with self.assertRaises(Forbidden) as caught:
            Client(self.fx.url, api_key=self.fx.service_key()).authorize("clustering")
        self.assert_error(caught.exception, "ON_BEHALF_OF_REQUIRED", 403)

    def test_a_reservation_resolves_once(self) -> None:
        reservation = self.tg.authorize("clustering").reservation_id or ""
        self.tg.settle(reservation, credits=5)

        with self.assertRaises(Conflict) as other_amount:
            self.tg.settle(reservation, credits=6)
        with self.assertRaises(Conflict) as release_after_settle:
            self.tg.release(reservation)

        self.assert_error(other_amount.exception, "IDEMPOTENCY_CONFLICT", 409)
        self.assert_error(release_after_settle.exception, "RESERVATION_RESOLVED", 409)


if __name__ == "__main__":
    unittest.main()
