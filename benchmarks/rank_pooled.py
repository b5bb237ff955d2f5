"""DIN against merge and each source's own order, pooled over rolling target weeks.

    python benchmarks/rank_pooled.py --workdir /tmp/rankbench [--scale medium] [--weeks 3] [-o key=value ...]
    python benchmarks/rank_pooled.py --workdir /tmp/rankreal --real ../shared/data/hm_real_sample --weeks 8

Writes (or reuses) the synthetic world, or takes the real customer-sampled extract (hungle45's
0.1 % of customers over two years, with the articles of its later sample), ingests it, then for each of the last `--weeks` weeks runs
`hmrec rank --ranker merge` and `--ranker din` with 4 training weeks under /usr/bin/time -v, and
finally scores everything with `hmrec evaluate` pooled over the weeks (customer-weeks, standard
error, share of the oracle). Options after -o go to din (e.g. -o negative_share=0.05). Prints one
JSON object; the figures in the README and the closing note come from it.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

SOURCES = "popular,repurchase,same-product,itemcf"


def hmrec(*args: str, timed: bool = False) -> tuple[dict | None, dict]:
    command = [str(Path(sys.executable).parent / "hmrec"), *args]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    usage = {}
    if timed:
        wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", done.stderr).group(1)
        parts = [float(p) for p in wall.split(":")]
        usage["wall_s"] = sum(p * 60**i for i, p in enumerate(reversed(parts)))
        usage["peak_rss_gib"] = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1)) / 2**20
    return (json.loads(done.stdout) if "--json" in args else None), usage


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--real", type=Path, help="the hm_real_sample folder: use its two-year customer sample instead")
    parser.add_argument("--weeks", type=int, default=3)
    parser.add_argument("-o", dest="options", action="append", default=[])
    args = parser.parse_args()
    name = "real" if args.real else args.scale
    raw, data, cache = args.workdir / f"{name}-raw", args.workdir / f"{name}-store", args.workdir / "cache"
    if args.real:
        sample = args.real / "hungle45__PSE-Recommendor-System"
        hmrec("data", "ingest", "--transactions", str(sample / "commit_3b7354e7" / "transactions_train_sample.csv"),
              "--customers", str(sample / "commit_3b7354e7" / "customers_sample.csv"),
              "--articles", str(sample / "commit_a8979e10" / "articles_train_sample.csv"), "--data", str(data), "-q")
    else:
        if not (raw / "transactions_train.csv").is_file():
            hmrec("data", "synth", "--scale", args.scale, "--seed", "0", "--out", str(raw), "-q")
        hmrec("data", "ingest", str(raw), "--data", str(data), "-q")
    common = ["--data", str(data), "--cache", str(cache), "--candidates", SOURCES, "--train-weeks", "4", "--json", "-q"]
    runs = []
    for back in range(args.weeks - 1, -1, -1):
        for ranker, options in (("merge", []), ("din", [x for o in args.options for x in ("-o", o)])):
            manifest, usage = hmrec("rank", "--ranker", ranker, "--week", str(back), *common, *options, timed=True)
            runs.append({"ranker": ranker, "week": manifest["week"], "map@12": manifest["figures"]["map@12"],
                         "fit_s": manifest["fit_seconds"], "score_s": manifest["score_seconds"], **usage,
                         "epochs": [(e["epoch"], round(e["validation"], 5)) for e in manifest["training"].get("epochs", [])]})
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    base = ["--data", str(data), "--cache", str(cache), "--week", "last", "--weeks", str(args.weeks), "--json", "-q"]
    pooled = {r: hmrec("evaluate", "--predictions", r, *base)[0] for r in ("merge", "din")}
    sources = hmrec("evaluate", "--candidates", SOURCES, *base)[0]
    own = {s["set"].split("@")[0]: s["map@12"] for s in sources["sets"] if s["set"] not in ("union", "oracle")}
    best_other = max([*own.values(), pooled["merge"]["map@12"]])
    report = {
        "data": name, "weeks": args.weeks, "din_options": args.options,
        "pooled_map@12": {"din": pooled["din"]["map@12"], "din_stderr": pooled["din"]["stderr"], "merge": pooled["merge"]["map@12"],
                          "merge_stderr": pooled["merge"]["stderr"], **{f"{k} (own order)": v for k, v in own.items()}},
        "customer_weeks": pooled["din"]["customer_weeks"], "oracle_map@12": pooled["din"].get("oracle_map@12"),
        "din_share_of_oracle": pooled["din"].get("share_of_oracle"), "din_over_best_other": pooled["din"]["map@12"] / best_other,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
