"""The corpus: rulesets on which the evaluator and the kernel once disagreed (or might), with
their samples and what the kernel did with each, replayed on every run.

One JSON file per case in corpus/:

    {"format": "nftables" | "iptables", "title": "...",
     "ruleset": "<nft -f or iptables-restore text>", "ruleset6": "<ip6tables-restore>" | null,
     "readback": "<the kernel's listing, what the parser read>" | null,
     "exotic": false,
     "open": null | "<whose bug, still unfixed>",
     "samples": [{"family": 4, "protocol": "tcp", "source": "10.1.0.5", "sport": 30000,
                  "destination": "10.2.0.9", "dport": 22, "kernel": "blocked"}, ...]}

``readback`` lets the corpus replay without root (parser + evaluator against the recorded
kernel verdicts); with root the case is loaded again and the kernel asked afresh. A case
with ``open`` set is an xfail (strict) until the bug is fixed; then remove the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.audit.kernel.differential import Run
from tests.audit.kernel.generate import Case
from tests.audit.kernel.netns import Sample

CORPUS = Path(__file__).with_name("corpus")


@dataclass
class Entry:
    path: Path
    case: Case
    kernel: dict[Sample, str | None]  # None: not yet recorded (hand-written, run record())
    readback: str | None
    title: str
    open: str | None


def load(path: Path) -> Entry:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    samples = {
        Sample(
            int(s["family"]),
            str(s["protocol"]),
            str(s["source"]),
            int(s["sport"]),
            str(s["destination"]),
            int(s["dport"]),
        ): s.get("kernel")
        for s in data["samples"]
    }
    case = Case(
        str(data["format"]),
        str(data["ruleset"]),
        data.get("ruleset6"),
        list(samples),
        bool(data.get("exotic", False)),
    )
    title = str(data.get("title", ""))
    return Entry(path, case, samples, data.get("readback"), title, data.get("open"))


def entries() -> list[Path]:
    return sorted(CORPUS.glob("*.json"))


def dump(
    case: Case,
    kernel: dict[Sample, str | None],
    readback: str | None,
    title: str,
    open_bug: str | None = None,
    notes: dict[Sample, str] | None = None,
) -> dict[str, Any]:
    samples = []
    for s in case.samples:
        item: dict[str, Any] = {
            "family": s.family,
            "protocol": s.protocol,
            "source": s.source,
            "sport": s.sport,
            "destination": s.destination,
            "dport": s.dport,
            "kernel": kernel.get(s),
        }
        if notes and s in notes:
            item["evaluator_when_found"] = notes[s]
        samples.append(item)
    data: dict[str, Any] = {"format": case.format, "title": title, "ruleset": case.ruleset}
    data["ruleset6"] = case.ruleset6
    data["readback"] = readback
    data["exotic"] = case.exotic
    if open_bug:
        data["open"] = open_bug
    data["samples"] = samples
    return data


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def save_found(run: Run, directory: Path = CORPUS) -> Path:
    """Keep a disagreement the generated test found, under a name from its content (the
    same case found twice is one file). The samples that disagreed carry the evaluator's
    answer at the time; the replay compares with the kernel's."""
    kernel: dict[Sample, str | None] = {r.sample: r.kernel for r in run.results}
    notes = {r.sample: r.ours for r in run.mismatches()}
    digest = hashlib.sha256((run.case.ruleset + (run.case.ruleset6 or "")).encode()).hexdigest()[
        :12
    ]
    title = f"found by the generated test: {len(notes)} of {len(run.results)} samples disagreed"
    if run.error:
        title += f" (parser error: {run.error})"
    data = dump(run.case, kernel, run.readback, title, notes=notes)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"found-{run.case.format}-{digest}.json"
    write(path, data)
    return path
