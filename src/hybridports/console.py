"""Standard streams that never fail on a character the output contains (→, …, box lines).

On Windows, Python 3.11 writes files and pipes in the ANSI code page (cp1252), which has no
"→": the CLI would die with a UnicodeEncodeError after the work was done. Files and pipes get
UTF-8 instead (what JSON, CSV and HTML readers expect); a legacy console that cannot show a
character gets "?" for it. UTF-8 streams (Linux, the Windows console) are left untouched.
"""

from __future__ import annotations

import codecs
import io
import sys


def utf8_output() -> None:
    """Call first thing in the CLI, before anything is written."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue  # captured or replaced (tests, embedding): not ours to change
        if codecs.lookup(stream.encoding).name == "utf-8":
            continue
        if stream.isatty():
            stream.reconfigure(errors="replace")
        else:
            stream.reconfigure(encoding="utf-8", errors=stream.errors)
