"""A progress bar on stderr while checks run (terminals only; nothing otherwise)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hybridports.probe.runner import CheckResult

Callbacks = tuple[Callable[[int], None], Callable[[CheckResult], None]]


@contextmanager
def progress_callbacks(enabled: bool) -> Iterator[Callbacks]:
    if not enabled:
        yield (lambda _total: None), (lambda _result: None)
        return
    progress = Progress(
        TextColumn("probing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = progress.add_task("", total=None)

    def start(total: int) -> None:
        progress.update(task, total=total)

    def done(result: CheckResult) -> None:
        progress.update(task, advance=1, description=f"{result.destination} {result.protocol}")

    with progress:
        yield start, done
