"""Static portability check: no POSIX/Linux-only call in src/hybridports without a fallback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.portability.scan import ALLOWED, scan_package, scan_source

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "hybridports"


def _whats(code: str) -> list[str]:
    return [f.what for f in scan_source(textwrap.dedent(code), "snippet.py")]


def test_the_package_has_no_unguarded_posix_only_call() -> None:
    findings = scan_package(PACKAGE)
    assert not findings, (
        "Windows would fail here; add a fallback (hasattr/getattr default/sys.platform "
        "branch), or list it in tests/portability/scan.py ALLOWED with the reason:\n"
        + "\n".join(map(str, findings))
    )


def test_every_allowed_entry_is_still_needed_and_explained() -> None:
    for (file, what), why in ALLOWED.items():
        assert why.strip(), f"{file}: {what} is allowed without a reason"
        text = (PACKAGE / file).read_text(encoding="utf-8")
        assert what in {f.what for f in scan_source(text, file)}, f"stale: {file}: {what}"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("import fcntl\n", "import fcntl"),
        ("from pwd import getpwnam\n", "from pwd import"),
        ("import os\nos.fork()\n", "os.fork"),
        ("import os\nuid = os.geteuid()\n", "os.geteuid"),
        ("import signal\nsignal.signal(signal.SIGALRM, print)\n", "signal.SIGALRM"),
        ("import socket as s\nflags = s.MSG_ERRQUEUE\n", "socket.MSG_ERRQUEUE"),
        ("from socket import AF_UNIX\n", "socket.AF_UNIX"),
        ("import select\nselect.epoll()\n", "select.epoll"),
        ("def f(loop, fd):\n    loop.add_reader(fd, print)\n", ".add_reader()"),
        ("def f(sock):\n    return sock.recvmsg(1)\n", ".recvmsg()"),
        (
            "import socket\nx = getattr(socket, 'SO_BINDTODEVICE')\n",
            "getattr(..., 'SO_BINDTODEVICE') without a default",
        ),
        ("NULL = '/dev/null'\n", "the Unix path '/dev/null'"),
        (
            # OSError is what a failing call raises; a missing constant is an AttributeError.
            "import socket\ntry:\n    x = socket.MSG_ERRQUEUE\nexcept OSError:\n    x = 0\n",
            "socket.MSG_ERRQUEUE",
        ),
        (
            # A flag that does not look at the platform guards nothing.
            "import socket\nFAST = True\nif FAST:\n    x = socket.MSG_DONTWAIT\n",
            "socket.MSG_DONTWAIT",
        ),
    ],
)
def test_unguarded_uses_are_found(code: str, expected: str) -> None:
    assert expected in _whats(code)


@pytest.mark.parametrize(
    "code",
    [
        "import sys, os\nif sys.platform == 'linux':\n    os.fork()\n",
        "import os\npid = os.fork() if os.name == 'posix' else None\n",
        "import socket\nif hasattr(socket, 'AF_UNIX'):\n    family = socket.AF_UNIX\n",
        "import socket\nflag = getattr(socket, 'MSG_ERRQUEUE', 0)\n",
        "import sys, socket\nQ = sys.platform == 'linux'\nif Q:\n    x = socket.MSG_ERRQUEUE\n",
        "import sys, socket\nQ = sys.platform == 'linux'\ndef f():\n"
        "    if not Q:\n        return 0\n    return socket.MSG_ERRQUEUE\n",
        "import socket\nx = hasattr(socket, 'MSG_ERRQUEUE') and socket.MSG_ERRQUEUE\n",
        "try:\n    import fcntl\nexcept ImportError:\n    fcntl = None\n",
        "def f(loop, fd):\n    try:\n        loop.add_reader(fd, print)\n"
        "    except NotImplementedError:\n        pass\n",
        "import contextlib, os\nwith contextlib.suppress(AttributeError):\n    os.sync()\n",
        "def f():\n    '''Reads /proc/net/snmp on Linux.'''\n",
    ],
)
def test_guarded_uses_pass(code: str) -> None:
    assert _whats(code) == []


def test_a_flag_from_another_module_guards() -> None:
    # net.py's HAS_ERROR_QUEUE guards the error-queue read wherever it is used.
    code = "from m import QUEUE\nimport socket\nif QUEUE:\n    x = socket.MSG_ERRQUEUE\n"
    assert [f.what for f in scan_source(code, "x.py", frozenset({"QUEUE"}))] == []
