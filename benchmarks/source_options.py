"""Source settings side by side on rolling weeks: each variant's own-order MAP@12 and recall@100,
pooled over the last `--weeks` weeks (weighted by each week's buyers), to choose defaults on
real data and on the synthetic world alike.

    python benchmarks/source_options.py --data /tmp/i14real/real-store --cache /tmp/i14real/cache --weeks 8

Every run goes through `hmrec recall` (cached). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

VARIANTS = [
    ("popular", []),
    ("popular", ["exclude_bought=true"]),
    ("repurchase", []),
    ("itemcf", []),
    ("itemcf", ["normalisation=count"]),
    ("itemcf", ["normalisation=cosine"]),
    ("itemcf", ["normalisation=bm25"]),
    ("itemcf", ["window_days=0", "history_days=0"]),
    ("itemcf", ["normalisation=count", "window_days=0", "history_days=0"]),
    ("usercf", []),
    ("als", []),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--weeks", type=int, default=8)
    args = parser.parse_args()
    hmrec = str(Path(sys.executable).parent / "hmrec")
    report = []
    for method, options in VARIANTS:
        buyers = map_sum = recall_sum = 0.0
        for back in range(args.weeks):
            command = [
                hmrec,
                "recall",
                "--method",
                method,
                "--week",
                str(back),
                "--data",
                str(args.data),
                "--cache",
                str(args.cache),
                "--json",
                "-q",
            ]
            done = subprocess.run([*command, *(x for o in options for x in ("-o", o))], capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"{method} {options} week {back}: {done.stderr[-2000:]}")
            m = json.loads(done.stdout)
            n = m["customer_count"]
            buyers += n
            map_sum += n * m["figures"]["map@12"]
            recall_sum += n * m["figures"]["recall@100"]
        row = {
            "method": method,
            "options": options,
            "customer_weeks": int(buyers),
            "map@12": map_sum / buyers,
            "recall@100": recall_sum / buyers,
        }
        report.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
