"""What the cloud and Windows render tests share: example plans and external validators.

jsonschema and botocore are not (yet) dependencies of the project's virtual environment;
when they are missing there, the validators run them in a system Python that has them, and
skip the check only when none does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hybridports.catalog import load_catalog
from hybridports.plan import Plan, plan
from hybridports.topology import load_topology
from tests.conftest import EXAMPLES, ROOT

GOLDEN = ROOT / "tests" / "golden" / "render"
SCHEMAS = ROOT / "tests" / "data" / "schema"
EXAMPLE_NAMES = sorted(p.parent.name for p in EXAMPLES.glob("*/topology.yaml"))
# usgov names sync01 and its proxy by DNS names that resolve nowhere: the tests use a copy
# with addresses (render resolves names at run time, which a test must not depend on).
USGOV_NAMES = {
    "address: sync01.agency.example": "address: 10.0.1.10",
    "proxy: http://proxy.agency.example:8080": "proxy: http://10.0.9.80:8080",
}


def topology_path(example: str, tmp_path: Path) -> Path:
    path = EXAMPLES / example / "topology.yaml"
    if example != "usgov":
        return path
    text = path.read_text(encoding="utf-8")
    for name, address in USGOV_NAMES.items():
        assert name in text, f"examples/usgov changed: {name!r} is gone"
        text = text.replace(name, address)
    copy = tmp_path / "usgov" / "topology.yaml"
    copy.parent.mkdir(exist_ok=True)
    copy.write_text(text, encoding="utf-8")
    return copy


def planned(example: str, tmp_path: Path) -> Plan:
    return plan(load_topology(topology_path(example, tmp_path)), load_catalog())


def _python_with(module: str) -> str | None:
    """This interpreter if it imports ``module``, else a python3 on PATH that does."""
    probe = f"import {module}"
    candidates = [sys.executable, shutil.which("python3"), "/usr/bin/python3"]
    for candidate in dict.fromkeys(c for c in candidates if c):
        result = subprocess.run(
            [candidate, "-c", probe], capture_output=True, check=False, timeout=60
        )
        if result.returncode == 0:
            return candidate
    return None


def run_with(module: str, script: str, payload: Any) -> list[str]:
    """Run ``script`` (reads JSON on stdin, prints one error per line) where ``module`` is."""
    python = _python_with(module)
    if python is None:
        pytest.skip(f"{module} is not installed in any Python here")
    result = subprocess.run(
        [python, "-c", script],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line]


_JSONSCHEMA = """
import json, sys
import jsonschema
payload = json.load(sys.stdin)
validator = jsonschema.Draft202012Validator(payload["schema"])
for error in validator.iter_errors(payload["instance"]):
    print("/".join(str(p) for p in error.absolute_path) + ": " + error.message)
"""


def schema_errors(instance: Any, schema_name: str) -> list[str]:
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    return run_with("jsonschema", _JSONSCHEMA, {"schema": schema, "instance": instance})


_BOTOCORE = """
import json, sys
import botocore.session
from botocore.validate import ParamValidator
model = botocore.session.get_session().get_service_model("ec2")
validator = ParamValidator()
for item in json.load(sys.stdin):
    shape = model.operation_model(item["operation"]).input_shape
    report = validator.validate(item["params"], shape)
    if report.has_errors():
        print(item["operation"] + ": " + report.generate_report().replace("\\n", " | "))
"""


def botocore_errors(calls: list[dict[str, Any]]) -> list[str]:
    """Validate (operation, params) pairs against botocore's EC2 service model."""
    return run_with("botocore", _BOTOCORE, calls)
