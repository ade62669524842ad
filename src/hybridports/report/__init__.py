"""Report formats. To add one: a module with a Reporter subclass, and one line here."""

from __future__ import annotations

from hybridports.report.csv import CsvReporter
from hybridports.report.html import HtmlReporter
from hybridports.report.interface import (
    Document,
    JUnitDocument,
    RenderOptions,
    Reporter,
    SimpleDocument,
    Table,
    TestCase,
)
from hybridports.report.json import JsonReporter
from hybridports.report.junit import JUnitReporter
from hybridports.report.markdown import MarkdownReporter
from hybridports.report.table import TableReporter

REPORTERS: dict[str, Reporter] = {
    reporter.name: reporter
    for reporter in (
        TableReporter(),
        JsonReporter(),
        CsvReporter(),
        MarkdownReporter(),
        JUnitReporter(),
        HtmlReporter(),
    )
}

__all__ = [
    "REPORTERS",
    "Document",
    "JUnitDocument",
    "RenderOptions",
    "Reporter",
    "SimpleDocument",
    "Table",
    "TestCase",
]
