from __future__ import annotations

from hybridports.report.interface import Document, RenderOptions, Reporter, Table


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def markdown_table(table: Table) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(c) for c in table.columns) + " |",
        "|" + "|".join("---" for _ in table.columns) + "|",
    ]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows)
    return lines


class MarkdownReporter(Reporter):
    name = "markdown"
    media_type = "text/markdown"

    def render(self, document: Document, options: RenderOptions) -> str:
        lines: list[str] = []
        for table in document.tables():
            lines += [f"## {table.title}", ""]
            lines += markdown_table(table) if table.rows else ["(none)"]
            lines.append("")
        summary = document.summary()
        if summary:
            lines += [f"- {line}" for line in summary]
            lines.append("")
        return "\n".join(lines)
