"""The Windows branch of the fleet playbook, run against stand-ins for the ansible.windows
modules (there is no Windows host here, and no WinRM).

A stand-in collection named ansible.windows replaces each win_* module with an action that
records its arguments and answers like the module would; a stand-in setup reports
os_family Windows. So the playbook's own logic runs for real -- which tasks run, in what
order, and the exact paths, pip commands and cmd.exe line it builds (Jinja backslash
handling, quoting) -- while nothing Windows-specific is executed. What the real modules
then do on a real host is documented, not tested (docs/fleet-windows.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fleet.support import ANSIBLE_DIR, DEFAULTS, PLAYBOOK, ansible_playbook

TOPOLOGY = ANSIBLE_DIR / "lab" / "topology.yaml"

# One action plugin serves every stand-in module: it logs (module, args) and fakes a result.
STUB_ACTION = """
from __future__ import annotations
import json, os, re
from ansible.plugins.action import ActionBase

class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        name = self._task.action.split(".")[-1]
        args = dict(self._task.args)
        env = {}
        for item in self._task.environment or []:
            env.update(self._templar.template(item))
        with open(task_vars["stub_log"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"module": name, "args": args, "env": env}, default=str) + "\\n")
        if name == "win_shell":
            # Leave a result where the command line redirects it, for the fetch that follows.
            target = re.search(r'> "([^"]+)"\\s*$', args["_raw_params"]).group(1)
            with open(target, "w", encoding="utf-8") as out:
                out.write('{"stand-in": true}')
        result.update(changed=True, rc=0, stdout="hybridports 0.1.0", stderr="")
        if name == "win_stat":
            result["stat"] = {"exists": False}
        if name == "win_file":
            os.makedirs(args["path"], exist_ok=True)
        return result
"""
# gather_facts runs a facts module itself (no action plugin): a module that says "Windows".
STUB_SETUP = """#!/usr/bin/python
import json
print(json.dumps({"changed": False, "ansible_facts": {"ansible_os_family": "Windows"}}))
"""
MODULES = (
    "win_file",
    "win_copy",
    "win_stat",
    "win_powershell",
    "win_command",
    "win_shell",
)


def stand_in_collection(base: Path) -> Path:
    actions = base / "ansible_collections" / "ansible" / "windows" / "plugins" / "action"
    actions.mkdir(parents=True)
    (actions.parent / "modules").mkdir()
    (actions.parent / "modules" / "setup.py").write_text(STUB_SETUP, encoding="utf-8")
    for module in MODULES:
        (actions / f"{module}.py").write_text(STUB_ACTION, encoding="utf-8")
    return base


@pytest.fixture(scope="module")
def windows_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], str, Path]:
    ansible = ansible_playbook()
    tmp = tmp_path_factory.mktemp("fleet-windows")
    collections = stand_in_collection(tmp / "collections")
    wheels = tmp / "wheels"
    wheels.mkdir()
    for name in ("pip-24.0-py3-none-any.whl", "hybridports-0.1.0-py3-none-any.whl"):
        (wheels / name).write_bytes(b"stand-in")
    (tmp / "python-3.11.9-embed-amd64.zip").write_bytes(b"stand-in")
    # A Windows-looking root below tmp: the fetch that follows the probe reads it locally.
    win_root = f"{tmp}/C:\\ProgramData\\hybridports"
    inventory = {
        "all": {
            "children": {
                "hybridports": {
                    "children": {
                        "windows": {
                            "hosts": {
                                "aadc01": {
                                    "hybridports_host": "sync01",
                                    "ansible_connection": "local",
                                    "ansible_python_interpreter": sys.executable,
                                    "ansible_facts_modules": ["ansible.windows.setup"],
                                }
                            }
                        }
                    }
                }
            },
            "vars": {
                "stub_log": str(tmp / "calls.jsonl"),
                "hybridports_topology": str(TOPOLOGY),
                "hybridports_output_dir": str(tmp / "out"),
                "hybridports_build_wheel": False,
                "hybridports_win_root": win_root,
                "hybridports_win_python_zip": str(tmp / "python-3.11.9-embed-amd64.zip"),
                "hybridports_win_wheelhouse": str(wheels),
                "hybridports_dns_server": "10.0.2.10",
                "hybridports_only": ["kerberos", "ldap"],
            },
        }
    }
    (tmp / "inventory.json").write_text(json.dumps(inventory), encoding="utf-8")
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(collections),
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-local"),
        "ANSIBLE_NOCOLOR": "1",
    }
    proc = subprocess.run(
        [ansible, "-i", str(tmp / "inventory.json"), str(PLAYBOOK), "--skip-tags", "merge"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]
    lines = (tmp / "calls.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], win_root, tmp


def calls(log: list[dict[str, Any]], module: str) -> list[dict[str, Any]]:
    return [entry["args"] for entry in log if entry["module"] == module]


def test_the_embeddable_python_is_unpacked_and_told_to_use_site_packages(
    windows_run: tuple[list[dict[str, Any]], str, Path],
) -> None:
    log, root, _ = windows_run
    copies = {c["dest"]: c for c in calls(log, "win_copy")}
    assert copies[root + "\\dist\\python-embed.zip"]["src"].endswith("embed-amd64.zip")
    pth = copies[root + "\\python\\python311._pth"]["content"]
    assert pth.splitlines() == ["python311.zip", ".", "Lib\\site-packages", "import site"]
    unpacked = [c["parameters"] for c in calls(log, "win_powershell")]
    assert {"Zip": root + "\\dist\\python-embed.zip", "Destination": root + "\\python"} in unpacked


def test_pip_bootstraps_from_its_wheel_and_installs_offline(
    windows_run: tuple[list[dict[str, Any]], str, Path],
) -> None:
    log, root, tmp = windows_run
    python = root + "\\python\\python.exe"
    commands = [c["argv"] for c in calls(log, "win_command")]
    assert [
        python,
        root + "\\wheelhouse\\pip-24.0-py3-none-any.whl\\pip",
        "install",
        "--no-index",
        "--find-links",
        root + "\\wheelhouse",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "pip",
    ] in commands
    install = [a for a in commands if "--force-reinstall" in a]
    assert install and install[0][:3] == [python, "-m", "pip"]
    assert install[0][-1] == root + "\\wheelhouse\\hybridports-0.1.0-py3-none-any.whl"
    # The controller packed the given wheelhouse into the one zip that is copied
    copies = {c["dest"]: c for c in calls(log, "win_copy")}
    assert copies[root + "\\dist\\wheelhouse.zip"]["src"] == str(
        tmp / "out" / "build" / "wheelhouse-win.zip"
    )


def test_the_probe_command_line_for_cmd(
    windows_run: tuple[list[dict[str, Any]], str, Path],
) -> None:
    log, root, tmp = windows_run
    (shell,) = [e for e in log if e["module"] == "win_shell"]
    python = root + "\\python\\python.exe"
    run = root + "\\run"
    words = [
        python, "-m", "hybridports", "probe", run + "\\topology.yaml",
        "--from", "sync01", "--format", "json", "--timeout", "3",
        "--dns-server", "10.0.2.10", "--only", "kerberos,ldap",
    ]  # fmt: skip
    expected = (
        f'cd /d "{run}" && ' + " ".join(f'"{word}"' for word in words) + f' > "{run}\\result.json"'
    )
    assert shell["args"]["_raw_params"] == expected
    assert shell["args"]["executable"] == "cmd"
    assert shell["env"]["PYTHONUTF8"] == "1"
    # And the result it redirects to is what the controller fetched
    fetched = tmp / "out" / "results" / "sync01.json"
    assert json.loads(fetched.read_text(encoding="utf-8")) == {"stand-in": True}


def test_windows_only_dependencies_are_downloaded_by_name() -> None:
    # pip download --platform win_amd64 on a Linux controller evaluates markers for Linux, so a
    # dependency only Windows needs must be in hybridports_win_extra_wheels.
    markers = pytest.importorskip("packaging.markers")
    requirements = pytest.importorskip("packaging.requirements")
    from importlib import metadata

    def closure(environment: dict[str, str]) -> set[str]:
        seen: set[str] = set()
        todo = ["hybridports"]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            try:
                lines = metadata.requires(name) or []
            except metadata.PackageNotFoundError:
                continue  # not installed here (a Windows-only one): its name is what counts
            for line in lines:
                req = requirements.Requirement(line)
                env = {**environment, "extra": ""}
                if req.marker is None or req.marker.evaluate(env):
                    todo.append(req.name.lower().replace("_", "-"))
        return seen

    linux = markers.default_environment()
    windows = {
        **linux,
        "sys_platform": "win32",
        "platform_system": "Windows",
        "os_name": "nt",
        "platform_machine": "AMD64",
    }
    windows_only = closure(windows) - closure(linux)
    extra = yaml.safe_load(DEFAULTS.read_text(encoding="utf-8"))["hybridports_win_extra_wheels"]
    assert windows_only <= set(extra), windows_only


def test_windows_module_arguments_exist_in_ansible_windows(tmp_path: Path) -> None:
    """Every argument of a win_* task is an option of the real module (when installed)."""
    tasks = yaml.safe_load((ANSIBLE_DIR / "roles/hybridports/tasks/windows.yml").read_text())
    uses: dict[str, list[set[str]]] = {}
    for task in tasks:
        (module,) = [key for key in task if key.startswith("ansible.windows.")] or [None]
        if module is None:
            continue
        args = task[module] if isinstance(task[module], dict) else {}
        uses.setdefault(module, []).append(set(args) | set(task.get("args") or {}))
    doc_cmd = str(Path(ansible_playbook()).with_name("ansible-doc"))
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    proc = subprocess.run(
        [doc_cmd, "-j", *uses], capture_output=True, text=True, timeout=120, env=env, check=False
    )
    docs = json.loads(proc.stdout or "{}") if proc.returncode == 0 else {}
    if set(docs) != set(uses):
        pytest.skip("the ansible.windows collection is not installed")
    for module, arg_sets in uses.items():
        options = docs[module]["doc"]["options"]
        known = set(options) | {a for o in options.values() for a in o.get("aliases", [])}
        for args in arg_sets:
            assert args <= known, (module, args - known)
