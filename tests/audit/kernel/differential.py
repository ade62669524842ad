"""One differential run: load a ruleset into the firewall namespace, read it back as the
kernel lists it, parse that with our parser, evaluate every sample, send the samples' real
packets, and compare verdicts sample by sample.

The parser reads the kernel's own listing (``nft -j list ruleset``, ``iptables-save``), not
the generated text: that is what ``hybridports audit`` is given in real life.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from hybridports.audit.evaluate import Evaluator, Query, Side
from hybridports.audit.interface import FORWARD_PATH, ParseOptions, Ruleset
from hybridports.audit.intervals import Intervals, network_interval
from tests.audit.kernel.generate import Case
from tests.audit.kernel.netns import FW_IN, FW_OUT, KernelNet, Sample

SETTLE = 0.2  # seconds to wait before trusting a "blocked" that disagrees with us


@dataclass(frozen=True, slots=True)
class Result:
    sample: Sample
    kernel: str  # allowed | blocked
    ours: str  # allowed | blocked | unknown | error (the parser raised)


@dataclass
class Run:
    case: Case
    readback: str  # what the parser read
    results: list[Result]
    error: str | None = None  # the parser or evaluator raised: every sample disagrees

    def tolerated(self, result: Result) -> bool:
        """``unknown`` is only acceptable where the case holds an exotic construct."""
        return result.ours == "unknown" and self.case.exotic

    def mismatches(self) -> list[Result]:
        return [r for r in self.results if r.ours != r.kernel and not self.tolerated(r)]

    def describe(self) -> str:
        lines = [f"{self.case.format} ruleset:", self.case.ruleset]
        if self.case.ruleset6:
            lines += ["IPv6:", self.case.ruleset6]
        if self.error:
            lines.append(f"parser error: {self.error}")
        lines += [
            f"  {r.sample.protocol} {r.sample.source}:{r.sample.sport} -> "
            f"{r.sample.destination}:{r.sample.dport}: kernel {r.kernel}, evaluator {r.ours}"
            for r in self.mismatches()
        ]
        return "\n".join(lines)


@dataclass
class Stats:
    """What the kernel tests covered, for the summary line at the end of the session."""

    rulesets: int = 0
    samples: int = 0
    passed: int = 0  # samples the kernel let through
    mismatches: int = 0
    tolerated_unknown: int = 0
    late: int = 0  # packets that arrived only after SETTLE (should stay 0)
    seconds: float = 0.0

    def add(self, run: Run, late: int, seconds: float) -> None:
        self.rulesets += 1
        self.samples += len(run.results)
        self.passed += sum(r.kernel == "allowed" for r in run.results)
        self.mismatches += len(run.mismatches())
        self.tolerated_unknown += sum(run.tolerated(r) for r in run.results)
        self.late += late
        self.seconds += seconds

    def line(self, name: str) -> str:
        return (
            f"{name}: {self.rulesets} rulesets, {self.samples} samples "
            f"({self.passed} passed the kernel, {self.samples - self.passed} dropped), "
            f"{self.mismatches} mismatches, {self.tolerated_unknown} unknown on exotic rules, "
            f"{self.late} late packets, {self.seconds:.1f}s"
        )


STATS: dict[str, Stats] = {}


def parse(fmt: str, readback: str) -> Ruleset:
    # Imported here: each parser is only needed by its own format's tests.
    if fmt == "nftables":
        from hybridports.audit.nftables import NftablesJsonParser

        return NftablesJsonParser().parse(readback, "generated.json", ParseOptions())
    from hybridports.audit.iptables import IptablesSaveParser

    return IptablesSaveParser().parse(readback, "generated.rules", ParseOptions())


def query(sample: Sample) -> Query:
    """The sample as the evaluator sees a flow: exact ends, the firewall's interfaces."""
    return Query(
        Side(network_interval(sample.source), interface=FW_IN),
        Side(network_interval(sample.destination), interface=FW_OUT),
        sample.protocol,
        Intervals.span(sample.dport, sample.dport),
        sample.family,
        source_ports=Intervals.span(sample.sport, sample.sport),
    )


def verdict(evaluator: Evaluator, sample: Sample) -> str:
    q = query(sample)
    allowed, blocked, _ = evaluator.evaluate(q, FORWARD_PATH).ports(q)
    return "allowed" if allowed else "blocked" if blocked else "unknown"


def load(net: KernelNet, case: Case) -> str:
    """Load the case into the firewall; the kernel's listing of it."""
    if case.format == "nftables":
        net.load_nft(case.ruleset)
        return net.nft_readback()
    net.load_iptables(case.ruleset, case.ruleset6)
    # One file for both families, as `iptables-save; ip6tables-save` gives.
    return net.iptables_readback(4) + (net.iptables_readback(6) if case.ruleset6 else "")


def kernel_verdicts(
    net: KernelNet, samples: Sequence[Sample], expected: dict[Sample, str] | None = None
) -> tuple[dict[Sample, str], int]:
    """What the kernel does with each sample (the ruleset already loaded), and how many
    packets arrived only after the settle wait."""
    arrived = net.send(samples)
    missing = [s for s in samples if s.key() not in arrived]
    late = 0
    # A missing packet we expected to pass is only "blocked" once stragglers had time to
    # arrive; missing packets we expected to be dropped need no wait.
    if any(expected is None or expected.get(s) != "blocked" for s in missing):
        extra = net.arrived(settle=SETTLE)
        late = len(extra)
        arrived |= extra
    return {s: "allowed" if s.key() in arrived else "blocked" for s in samples}, late


def run_case(net: KernelNet, case: Case, stats: Stats | None = None) -> Run:
    started = time.monotonic()
    readback = load(net, case)
    error: str | None = None
    ours: dict[Sample, str] = {}
    try:
        evaluator = Evaluator(parse(case.format, readback))
        ours = {s: verdict(evaluator, s) for s in case.samples}
    except Exception as exc:  # a crash on the kernel's own listing is a finding: keep it
        error = f"{type(exc).__name__}: {exc}"
    kernel, late = kernel_verdicts(net, case.samples, ours)
    results = [Result(s, kernel[s], ours.get(s, "error")) for s in case.samples]
    run = Run(case, readback, results, error)
    if stats is not None:
        stats.add(run, late, time.monotonic() - started)
    return run


class Smallest:
    """The smallest failing run seen (hypothesis shrinks towards it); saved once at the end
    instead of once per shrink step."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self._size = 0

    def offer(self, run: Run) -> None:
        size = len(run.case.ruleset) + len(run.case.ruleset6 or "")
        if self.run is None or size < self._size:
            self.run, self._size = run, size
