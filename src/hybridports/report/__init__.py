"""Report formats. To add one: a module with a Reporter subclass, and one line here."""

from __future__ import annotations

from hybridports.report.csv import CsvReporter
from hybridports.report.interface import Document, RenderOptions, Reporter, SimpleDocument, Table
from hybridports.report.json import JsonReporter
from hybridports.report.markdown import MarkdownReporter
from hybridports.report.table import TableReporter

REPORTERS: dict[str, Reporter] = {
    reporter.name: reporter
    for reporter in (TableReporter(), JsonReporter(), CsvReporter(), MarkdownReporter())
}

__all__ = ["REPORTERS", "Document", "RenderOptions", "Reporter", "SimpleDocument", "Table"]
