"""What the fleet tests share: where the playbook is, and the ansible-playbook to run it."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "deploy" / "ansible"
PLAYBOOK = ANSIBLE_DIR / "fleet.yml"
DEFAULTS = ANSIBLE_DIR / "roles" / "hybridports" / "defaults" / "main.yml"


def ansible_playbook() -> str:
    """The ansible-playbook next to this Python (the project's venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside) if beside.exists() else shutil.which("ansible-playbook")
    if found is None:
        pytest.skip("ansible-core is not installed (pip install 'ansible-core>=2.16,<2.20')")
    return found
