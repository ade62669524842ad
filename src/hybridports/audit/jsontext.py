"""JSON policy files (Azure NSG, AWS security groups) read with the line of every object.

``json.loads`` forgets where a value came from; a PolicyError or a rule label should name the
line of the offending rule, so every object becomes a ``JsonObject`` that knows its line.
The pure-Python scanner is used because only it lets us hook object parsing; big files
go through the C scanner without lines (see LINES_UP_TO).
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable
from typing import Any

from hybridports.audit.interface import PolicyError


class JsonObject(dict[str, Any]):
    """A JSON object that remembers the line its ``{`` stands on (1-based)."""

    line: int = 0


# Typeshed leaves these two out; they are public in the json package's source.
_json_object: Callable[..., tuple[dict[str, Any], int]] = json.decoder.JSONObject  # type: ignore[attr-defined]
_make_scanner: Callable[[json.JSONDecoder], Callable[[str, int], tuple[Any, int]]] = (
    json.scanner.py_make_scanner  # type: ignore[attr-defined]
)


class _Decoder(json.JSONDecoder):
    def __init__(self, text: str) -> None:
        super().__init__()
        newlines = [m.start() for m in re.finditer("\n", text)]

        def parse_object(s_and_end: tuple[str, int], *args: Any) -> tuple[JsonObject, int]:
            start = s_and_end[1] - 1  # the index of the '{'
            value, end = _json_object(s_and_end, *args)
            obj = JsonObject(value)
            obj.line = bisect.bisect_left(newlines, start) + 1
            return obj, end

        self.parse_object = parse_object
        self.scan_once = _make_scanner(self)


# Above this size objects do not learn their lines: the pure-Python scanner costs about 10 s
# for a 50,000-rule export, the C one a fraction of a second. Labels name rules by handle,
# name or priority anyway; errors still carry the line (json reports it).
LINES_UP_TO = 4 << 20


def load_json(text: str, file: str, what: str) -> Any:
    """The parsed document; PolicyError (with the line) for empty, malformed or truncated
    text. ``what`` names the expected format for the messages ("an Azure NSG export")."""
    text = text.removeprefix("\ufeff")  # PowerShell and Notepad write a BOM
    if not text.strip():
        raise PolicyError(f"empty file: expected {what} (JSON)", file=file)
    try:
        if len(text) > LINES_UP_TO:
            return json.loads(text)
        return _Decoder(text).decode(text)
    except json.JSONDecodeError as exc:
        near = text[exc.pos : exc.pos + 20].split("\n")[0] or "end of file"
        raise PolicyError(
            f"not valid JSON ({what} expected): {exc.msg} at {near!r}",
            file=file,
            line=exc.lineno,
        ) from None
    except RecursionError:
        raise PolicyError(f"JSON nested too deeply for {what}", file=file) from None
    except ValueError as exc:  # e.g. a number beyond Python's 4,300-digit limit
        raise PolicyError(f"not valid JSON ({what} expected): {exc}", file=file) from None


def line_of(value: Any) -> int | None:
    """The line of a parsed object, None for anything else (strings, numbers, lists)."""
    return value.line if isinstance(value, JsonObject) else None
