"""What every report format renders: a document with a JSON form and titled tables."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Optional per-row Rich style for terminals (e.g. a verdict colour); ignored elsewhere.
    row_styles: tuple[str | None, ...] = ()
    # Columns that may wrap in a terminal table; the others keep their width (None: all may).
    wrap: tuple[str, ...] | None = None


@dataclass(frozen=True)
class TestCase:
    """One JUnit test case: a required flow (per source), passing or failing with evidence."""

    suite: str  # e.g. "audit nftables-json: policy.json" or "probe from sync01"
    name: str  # e.g. "sync01 -> dc01 tcp/88 (T1-05)"
    classname: str  # e.g. "hybridports.audit.sync01"
    failure: str | None = None  # one-line message when failing
    detail: str = ""  # the evidence (body of <failure>, or <system-out> when passing)
    skipped: str | None = None  # reason, when not evaluated


@dataclass(frozen=True)
class RenderOptions:
    width: int = 160
    color: bool = False


class Document(Protocol):
    """A command's result: JSON for machines, tables for people."""

    def to_json(self) -> dict[str, Any]: ...

    def tables(self) -> list[Table]: ...

    def flat_table(self) -> Table:
        """The one table that CSV carries."""
        ...

    def summary(self) -> list[str]: ...


class JUnitDocument(Document, Protocol):
    """A Document that can also be a JUnit report (audit, merge)."""

    def test_cases(self) -> list[TestCase]: ...


@dataclass(frozen=True)
class SimpleDocument:
    """A ready-made Document for results that are already tables."""

    data: dict[str, Any]
    table_list: list[Table]
    summary_lines: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return self.data

    def tables(self) -> list[Table]:
        return self.table_list

    def flat_table(self) -> Table:
        return self.table_list[0]

    def summary(self) -> list[str]:
        return self.summary_lines


class Reporter(ABC):
    """One output format. Register it in ``hybridports.report.REPORTERS``."""

    name: str
    media_type: str = "text/plain"

    @abstractmethod
    def render(self, document: Document, options: RenderOptions) -> str:
        """The whole output as one string (nothing is written before it is complete)."""
