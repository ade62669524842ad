"""Record what the kernel does with a corpus case's samples (and its listing of the
ruleset), for hand-written cases: ``python -m tests.audit.kernel.record corpus/X.json …``.

Prints each sample with the kernel's verdict and the evaluator's, so a person can check the
kernel did what the case's title claims before committing it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.audit.kernel import corpus
from tests.audit.kernel.differential import kernel_verdicts, load, parse, verdict
from tests.audit.kernel.netns import KernelNet, unavailable_reason


def main(paths: list[str]) -> int:
    reason = unavailable_reason()
    if reason:
        print(f"cannot record: {reason}", file=sys.stderr)
        return 2
    from hybridports.audit.evaluate import Evaluator

    with KernelNet() as net:
        for name in paths:
            entry = corpus.load(Path(name))
            readback = load(net, entry.case)
            kernel, _ = kernel_verdicts(net, entry.case.samples)
            evaluator = Evaluator(parse(entry.case.format, readback))
            print(f"{name}: {entry.title}")
            for s in entry.case.samples:
                ours = verdict(evaluator, s)
                flag = "" if ours == kernel[s] else "   <-- evaluator disagrees"
                print(f"  {s.protocol} {s.source}:{s.sport} -> {s.destination}:{s.dport}: "
                      f"kernel {kernel[s]}, evaluator {ours}{flag}")  # fmt: skip
            data = corpus.dump(entry.case, dict(kernel), readback, entry.title, entry.open)
            corpus.write(entry.path, data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
