"""Reading a file the user named: every failure is one UserError naming the file."""

from __future__ import annotations

from pathlib import Path

from hybridports.errors import UserError


def read_input(path: str | Path, what: str) -> bytes:
    """The bytes of ``path``; ``what`` names it in messages ("topology file", "policy file")."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"is a directory, not a {what}", file=str(path))
    try:
        return p.read_bytes()
    except FileNotFoundError:
        raise UserError(f"no such {what}", file=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read {what}: {exc.strerror}", file=str(path)) from None
