"""Parsing the server's answers, and the package staying within Python 3.9 (no server needed)."""

import ast
import unittest
from pathlib import Path

from tollgate import Decision, DenialCode

from .stub_server import decision_body

PACKAGE = Path(__file__).resolve().parents[1] / "tollgate"


class DenialCodeTest(unittest.TestCase):
    def test_known_codes_are_the_enum_members(self) -> None:
        self.assertIs(DenialCode("LIMIT_EXCEEDED"), DenialCode.LIMIT_EXCEEDED)
        self.assertEqual(DenialCode.LIMIT_EXCEEDED, "LIMIT_EXCEEDED")
        self.assertEqual(f"{DenialCode.RATE_LIMITED}", "RATE_LIMITED")

    def test_a_code_this_sdk_does_not_know_still_parses(self) -> None:
        body = {**decision_body(), "allowed": False, "code": "SEATS_EXHAUSTED", "reservation": None}

        decision = Decision.from_json(body, idempotency_key="k", request_id=None)

        self.assertIsInstance(decision.code, DenialCode)
        self.assertEqual(decision.code, "SEATS_EXHAUSTED")
        self.assertEqual(str(decision.code), "SEATS_EXHAUSTED")
        self.assertNotIn(decision.code, list(DenialCode))
        self.assertIsNone(decision.reservation_id)


def annotations(tree: ast.AST) -> "list[ast.expr]":
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            found.append(node.annotation)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            found.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            found.append(node.returns)
    return found


class PythonVersionTest(unittest.TestCase):
    """The package runs on 3.9: its grammar, and no ``X | Y`` annotation (evaluated, that is a TypeError before 3.10)."""

    def test_every_module_is_python_3_9(self) -> None:
        for path in sorted(PACKAGE.glob("*.py")):
            with self.subTest(module=path.name):
                tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))
                unions = [ast.unparse(a) for a in annotations(tree) if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.BitOr) for n in ast.walk(a))]
                self.assertEqual(unions, [], "use Optional/Union")


if __name__ == "__main__":
    unittest.main()
