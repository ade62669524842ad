"""Read and check result files: one topology, one schema, one file per source.

Every problem is a UserError naming the file (and the line, for broken JSON): a report
built from a mixture would look ready while it is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybridports import __version__
from hybridports.errors import UserError
from hybridports.files import read_input
from hybridports.merge.model import AUDIT_VERDICTS, PROBE_VERDICTS
from hybridports.provenance import RESULT_SCHEMA

KINDS = ("probe", "audit")


@dataclass(frozen=True)
class ProbeRow:
    destination: str
    address: str | None
    protocol: str
    transport: str
    port: int | None
    flow_ports: tuple[int, int]
    required: bool
    verdict: str
    detail: str
    catalog_id: str
    tested_name: str | None
    via: str | None


@dataclass(frozen=True)
class AuditRow:
    source: str
    destination: str
    transport: str
    ports: tuple[int, int]
    required: bool
    verdict: str
    blocked_ports: tuple[tuple[int, int], ...]
    unknown_ports: tuple[tuple[int, int], ...]
    matched_rule: str | None
    catalog_id: str
    protocol: str
    purpose: str
    detail: str
    source_address: str | None
    destination_address: str | None


@dataclass(frozen=True)
class ResultFile:
    path: str
    kind: str
    topology: str
    digest: str
    version: str
    source: str | None = None  # probe: the --from host
    source_address: str | None = None
    policy: tuple[str, str, str | None] | None = None  # audit: (file, format, host)
    probe_rows: tuple[ProbeRow, ...] = ()
    audit_rows: tuple[AuditRow, ...] = ()
    findings: tuple[dict[str, str], ...] = ()

    @property
    def what(self) -> str:
        if self.kind == "probe":
            return f"probe from {self.source}"
        assert self.policy is not None
        file, fmt, host = self.policy
        return f"audit {fmt} {file}" + (f" (host {host})" if host else "")

    @property
    def checks(self) -> int:
        return len(self.probe_rows) + len(self.audit_rows)


def load_results(paths: list[Path]) -> list[ResultFile]:
    if not paths:
        raise UserError("merge needs at least one result file (probe or audit --format json)")
    files: list[ResultFile] = []
    seen_paths: dict[Path, str] = {}
    for path in paths:
        resolved = path.resolve()
        if resolved in seen_paths:
            raise UserError(f"given twice (also as {seen_paths[resolved]})", file=path)
        seen_paths[resolved] = str(path)
        files.append(load_result(path))
    _check_together(files)
    return files


def _check_together(files: list[ResultFile]) -> None:
    first = files[0]
    sources: dict[str, ResultFile] = {}
    policies: dict[tuple[str, str, str | None], ResultFile] = {}
    for item in files:
        if (item.topology, item.digest) != (first.topology, first.digest):
            raise UserError(
                f"topology {item.topology!r} (digest {item.digest[:12]}) differs from "
                f"{first.topology!r} (digest {first.digest[:12]}) in {first.path}: "
                "merge results of one topology only",
                file=item.path,
            )
        if item.source is not None:
            other = sources.setdefault(item.source, item)
            if other is not item:
                raise UserError(
                    f"a second probe from {item.source!r} (also in {other.path}): give one "
                    "result file per source host",
                    file=item.path,
                )
        if item.policy is not None:
            other = policies.setdefault(item.policy, item)
            if other is not item:
                raise UserError(
                    f"the same policy audited twice ({item.what}; also in {other.path})",
                    file=item.path,
                )


def load_result(path: Path) -> ResultFile:
    data = _read_json(path)
    if not isinstance(data, dict):
        raise UserError("not a hybridports result file (the JSON is not an object)", file=path)
    kind = data.get("kind")
    if kind is None:
        if "source" in data and "results" in data:
            raise UserError(
                "a probe result without provenance (no kind, topology_digest): written by an "
                f"older hybridports; re-run `hybridports probe … --format json` with {__version__}",
                file=path,
            )
        raise UserError("not a hybridports result file (no 'kind' key)", file=path)
    if kind not in KINDS:
        hint = ": give the probe and audit files it was made from" if kind == "merge" else ""
        raise UserError(
            f"unknown kind {kind!r} (expected one of: {', '.join(KINDS)}){hint}", file=path
        )
    meta = data.get("hybridports")
    if not isinstance(meta, dict) or not isinstance(meta.get("schema"), int):
        raise UserError("no 'hybridports' version and schema: not a result file", file=path)
    version = str(meta.get("version", "?"))
    if meta["schema"] != RESULT_SCHEMA:
        raise UserError(
            f"result schema {meta['schema']} (hybridports {version}); this hybridports "
            f"{__version__} reads schema {RESULT_SCHEMA}: re-run it with the same version",
            file=path,
        )
    topology = _text(data, "topology", path)
    digest = _text(data, "topology_digest", path)
    results = data.get("results")
    if not isinstance(results, list):
        raise UserError("'results' is missing or not a list", file=path)
    if kind == "probe":
        return ResultFile(
            str(path),
            "probe",
            topology,
            digest,
            version,
            source=_text(data, "source", path),
            source_address=_opt_text(data, "source_address", path),
            probe_rows=tuple(_probe_row(r, i, path) for i, r in enumerate(results)),
        )
    policy = data.get("policy")
    if not isinstance(policy, dict):
        raise UserError("an audit result needs 'policy' (file, format, host)", file=path)
    findings = data.get("findings", [])
    if not isinstance(findings, list) or not all(isinstance(f, dict) for f in findings):
        raise UserError("'findings' is not a list of objects", file=path)
    return ResultFile(
        str(path),
        "audit",
        topology,
        digest,
        version,
        policy=(
            str(policy.get("file", "")),
            str(policy.get("format", "")),
            _opt_text(policy, "host", path, "policy."),
        ),
        audit_rows=tuple(_audit_row(r, i, path) for i, r in enumerate(results)),
        findings=tuple({k: str(v) for k, v in f.items()} for f in findings),
    )


def _read_json(path: Path) -> Any:
    raw = read_input(path, "result file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserError("not UTF-8 text: not a result file", file=path, line=line) from None
    if not text.strip():
        raise UserError("empty file: not a result file", file=path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip())
        what = "truncated JSON" if truncated else "corrupt JSON"
        raise UserError(
            f"{what}: {exc.msg} at column {exc.colno}", file=path, line=exc.lineno
        ) from None
    except RecursionError:
        raise UserError("corrupt JSON: nested too deeply", file=path) from None


def _text(data: dict[str, Any], key: str, path: Path, prefix: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise UserError(f"{prefix}{key}: expected a string, got {value!r:.60}", file=path)
    return value


def _opt_text(data: dict[str, Any], key: str, path: Path, prefix: str = "") -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return _text(data, key, path, prefix)


def _bool(data: dict[str, Any], key: str, path: Path, prefix: str) -> bool:
    value = data.get(key)
    if not isinstance(value, bool):
        raise UserError(f"{prefix}{key}: expected true or false, got {value!r:.60}", file=path)
    return value


def _pair(value: Any, what: str, path: Path) -> tuple[int, int]:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and 0 <= value[0] <= value[1] <= 65535
    ):
        return value[0], value[1]
    raise UserError(f"{what}: expected [low, high] ports, got {value!r:.60}", file=path)


def _verdict(data: dict[str, Any], allowed: frozenset[str], path: Path, prefix: str) -> str:
    value = data.get("verdict")
    if value not in allowed:
        raise UserError(
            f"{prefix}verdict: {value!r:.60} is not one of {', '.join(sorted(allowed))}",
            file=path,
        )
    return str(value)


def _probe_row(row: Any, index: int, path: Path) -> ProbeRow:
    prefix = f"results[{index}]."
    if not isinstance(row, dict):
        raise UserError(f"results[{index}]: expected an object", file=path)
    port = row.get("port")
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
        raise UserError(f"{prefix}port: expected a number or null, got {port!r:.60}", file=path)
    return ProbeRow(
        destination=_text(row, "destination", path, prefix),
        address=_opt_text(row, "address", path, prefix),
        protocol=_text(row, "protocol", path, prefix),
        transport=_text(row, "transport", path, prefix),
        port=port,
        flow_ports=_pair(row.get("flow_ports"), f"{prefix}flow_ports", path),
        required=_bool(row, "required", path, prefix),
        verdict=_verdict(row, PROBE_VERDICTS, path, prefix),
        detail=_opt_text(row, "detail", path, prefix) or "",
        catalog_id=_opt_text(row, "catalog_id", path, prefix) or "",
        tested_name=_opt_text(row, "tested_name", path, prefix),
        via=_opt_text(row, "via", path, prefix),
    )


def _audit_row(row: Any, index: int, path: Path) -> AuditRow:
    prefix = f"results[{index}]."
    if not isinstance(row, dict):
        raise UserError(f"results[{index}]: expected an object", file=path)
    lists = {}
    for key in ("blocked_ports", "unknown_ports"):
        value = row.get(key, [])
        if not isinstance(value, list):
            raise UserError(f"{prefix}{key}: expected a list, got {value!r:.60}", file=path)
        lists[key] = tuple(_pair(p, f"{prefix}{key}", path) for p in value)
    return AuditRow(
        source=_text(row, "source", path, prefix),
        destination=_text(row, "destination", path, prefix),
        transport=_text(row, "transport", path, prefix),
        ports=_pair(row.get("ports"), f"{prefix}ports", path),
        required=_bool(row, "required", path, prefix),
        verdict=_verdict(row, AUDIT_VERDICTS, path, prefix),
        blocked_ports=lists["blocked_ports"],
        unknown_ports=lists["unknown_ports"],
        matched_rule=_opt_text(row, "matched_rule", path, prefix),
        catalog_id=_opt_text(row, "catalog_id", path, prefix) or "",
        protocol=_opt_text(row, "protocol", path, prefix) or "",
        purpose=_opt_text(row, "purpose", path, prefix) or "",
        detail=_opt_text(row, "detail", path, prefix) or "",
        source_address=_opt_text(row, "source_address", path, prefix),
        destination_address=_opt_text(row, "destination_address", path, prefix),
    )
