from __future__ import annotations

import csv
import io

from hybridports.report.interface import Document, RenderOptions, Reporter


class CsvReporter(Reporter):
    name = "csv"
    media_type = "text/csv"

    def render(self, document: Document, options: RenderOptions) -> str:
        table = document.flat_table()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return buffer.getvalue()
