from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from hybridports.report.interface import Document, RenderOptions, Reporter


class TableReporter(Reporter):
    """Terminal tables (Rich). Without a terminal: plain text at a fixed width."""

    name = "table"

    def render(self, document: Document, options: RenderOptions) -> str:
        buffer = io.StringIO()
        console = Console(
            file=buffer,
            width=options.width,
            color_system="standard" if options.color else None,
            force_terminal=options.color,
            no_color=not options.color,
            highlight=False,
            emoji=False,
            legacy_windows=False,
        )
        for table in document.tables():
            rich_table = RichTable(
                title=f"{table.title} ({len(table.rows)})",
                title_justify="left",
                box=box.SIMPLE_HEAD,
                show_lines=False,
            )
            for index, column in enumerate(table.columns):
                wraps = table.wrap is None or column in table.wrap
                # A wrapping column of short words (feature names) is not split mid-word;
                # long identifiers may fold when the terminal is narrow.
                longest = max((len(w) for row in table.rows for w in row[index].split()), default=0)
                rich_table.add_column(
                    column,
                    overflow="fold",
                    no_wrap=not wraps,
                    min_width=longest if wraps and longest <= 20 else None,
                )
            styles = table.row_styles or (None,) * len(table.rows)
            for row, style in zip(table.rows, styles, strict=True):
                rich_table.add_row(*row, style=style)
            console.print(rich_table)
        for line in document.summary():
            console.print(line, markup=False)
        # Rich pads every line to the console width; trailing blanks only get in the way.
        return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"
