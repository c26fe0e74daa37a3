"""kill -9 loop: the crash test (``tests/e2e/test_crash_recovery.py``) again and again, each run with its own seed
for the kill moments, on SQLite and PostgreSQL, and the sum of what the runs injected and checked.

Each run: 6 simulated chargers (OCPP 1.6 and 2.0.1) run 3 sessions each while the server is killed 4 times; the
drivers pay by wallet, by card (a Stripe-compatible server) or by invoice; after the restarts every session is
priced once, every amount debited or captured once, the ledger balanced, invoice numbers gap-free and every invoice
mailed under one Message-ID (the test's docstring has the whole list). CI runs the test with one seed per store.

    .venv/bin/python benchmarks/crashes.py --runs 10 --db sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ocpp_load import PYTHON, ROOT, machine

TEST = "tests/e2e/test_crash_recovery.py"


def run_once(kind: str, seed: int) -> tuple[bool, dict[str, Any], str]:
    """One run of the test on store ``kind``: (passed, its crash report, the tail of its output)."""
    env = {**os.environ, "CI": "true", "VOLTBILL_CRASH_SEED": str(seed)}
    done = subprocess.run(
        [PYTHON, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", TEST, "-k", kind],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    report = next(
        (json.loads(line.split(" ", 1)[1]) for line in done.stdout.splitlines() if line.startswith("crash-report ")),
        {},
    )
    return done.returncode == 0, report, done.stdout[-3000:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs per store")
    parser.add_argument("--db", default="sqlite,postgresql")
    parser.add_argument("--first-seed", type=int, default=1)
    args = parser.parse_args()
    results: dict[str, Any] = {"machine": machine(), "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for kind in args.db.split(","):
        totals: Counter[str] = Counter()
        failed: list[dict[str, Any]] = []
        started = time.monotonic()
        for seed in range(args.first_seed, args.first_seed + args.runs):
            passed, report, output = run_once(kind, seed)
            totals.update(report)
            totals["runs passed" if passed else "runs failed"] += 1
            if not passed:
                failed.append({"seed": seed, "output": output})
            print(f"[{kind}] seed {seed}: {'passed' if passed else 'FAILED'} {json.dumps(report)}", file=sys.stderr)
        results[kind] = {"totals": dict(totals), "seconds": round(time.monotonic() - started), "failed": failed}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
