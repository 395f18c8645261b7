"""The AI call, played by a local, deterministic stand-in: no network, no keys, the same plan for the same input.

Swap ``LocalTestPlanModel`` for a real LLM client; the metering around it stays as it is.
"""

from dataclasses import asdict, dataclass
from typing import Any, Dict, List


class ModelError(Exception):
    """The model call failed (timeout, provider error, unusable output)."""


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    steps: List[str]
    expected: str


@dataclass(frozen=True)
class TestPlan:
    title: str
    cases: List[Case]

    @property
    def word_count(self) -> int:
        """What the run is charged by (the operation is priced per 100 words)."""
        texts = [self.title] + [text for case in self.cases for text in [case.title, *case.steps, case.expected]]
        return sum(len(text.split()) for text in texts)

    def as_json(self) -> Dict[str, Any]:
        return {"title": self.title, "cases": [asdict(case) for case in self.cases], "words": self.word_count}


class LocalTestPlanModel:
    def generate_test_plan(self, requirements: List[str]) -> TestPlan:
        cases = [
            Case(
                id=f"TC-{number}",
                title=f"Verify that {requirement}",
                steps=[f"Prepare the data and the user that {requirement} needs", f"Exercise the feature: {requirement}", "Record what the system does"],
                expected=f"The system behaves as stated: {requirement}",
            )
            for number, requirement in enumerate(requirements, start=1)
        ]
        return TestPlan(title=f"Test plan for {len(requirements)} requirement(s)", cases=cases)
