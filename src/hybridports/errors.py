"""The one exception the command line prints: bad input, with where it was found."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input or usage. Printed as ``error: FILE:LINE: message`` and exit code 2."""

    def __init__(
        self, message: str, *, file: str | Path | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        # One line, always: a message with a newline would break the contract.
        return (where + self.message).replace("\n", " ")
