"""Errors of the data layer.

    DataError(ValueError)            anything wrong with data handed to `features`
    └── DataValidationError          every problem found in one file, each with its location

A `DataProblem` says what is wrong and where (file, column, rows, series) and how to fix it.
Soft problems that were repaired (clipped negatives, dropped series) are `DataWarning`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

MAX_LISTED = 5


class DataWarning(UserWarning):
    """A data problem that was repaired as asked (silence with `warnings.simplefilter`)."""


@dataclass(frozen=True)
class DataProblem:
    """One located problem in an input file."""

    code: str
    message: str
    file: str | None = None
    column: str | None = None
    rows: tuple[int, ...] = ()
    unique_ids: tuple[str, ...] = ()
    hint: str | None = None
    count: int = field(default=0)

    def describe(self) -> str:
        """One readable paragraph: the message, then where, then how to fix it."""
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.column:
            where.append(f"column '{self.column}'")
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:MAX_LISTED])
            more = self.count - min(len(self.rows), MAX_LISTED) if self.count else 0
            label = "row" if len(self.rows) == 1 and more <= 0 else "rows"
            where.append(f"{label} {shown}" + (f" and {more} more" if more > 0 else ""))
        if self.unique_ids:
            shown = ", ".join(repr(u) for u in self.unique_ids[:MAX_LISTED])
            extra = len(self.unique_ids) - MAX_LISTED
            where.append(f"series {shown}" + (f" and {extra} more" if extra > 0 else ""))
        text = f"[{self.code}] {self.message}"
        if where:
            text += f" ({'; '.join(where)})"
        if self.hint:
            text += f". Fix: {self.hint}"
        return text


class DataError(ValueError):
    """Data handed to the feature pipelines cannot be used as it is."""


class DataValidationError(DataError):
    """One or more located problems found while reading or validating a file."""

    def __init__(self, problems: Sequence[DataProblem], *, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self.report())

    @property
    def codes(self) -> list[str]:
        """The problem codes, in the order they were found (handy in tests and scripts)."""
        return [p.code for p in self.problems]

    def report(self) -> str:
        """The whole validation report, one problem a line."""
        head = f"{len(self.problems)} problem(s) found"
        if self.source:
            head += f" in {self.source}"
        return head + ":\n" + "\n".join(f"  - {p.describe()}" for p in self.problems)
