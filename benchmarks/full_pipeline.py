"""The whole job at full scale, step by step, each step the real command line under /usr/bin/time -v.

    python benchmarks/full_pipeline.py --workdir /data/pipeline                      # synthesize full, ingest, everything
    python benchmarks/full_pipeline.py --workdir W --data STORE --cache CACHE        # an existing store
    python benchmarks/full_pipeline.py --workdir W --raw KAGGLE_FOLDER               # the competition CSVs: ingest first
    python benchmarks/full_pipeline.py --workdir W --scale small --profile cpu --part validation

Steps (one JSON line each in WORKDIR/steps.jsonl and on stdout: step, command, wall_s, peak_rss_gib,
rows, map@12, cached; then a summary table):
  synth, ingest                      (unless --data)
  source:M:W                         per source and week (5, 4, 3, 2, 1 = the training weeks, last = the target),
                                     `hmrec recall --method M --week W --k 100`: fitted before W, the week's buyers
  rank:R, evaluate:R                 `hmrec rank --ranker R --week last --train-weeks 5`, then
                                     `hmrec evaluate --week last --predictions R@KEY` (merge first: the baseline)
  next:M                             per source, `hmrec recall --method M --week next --customers all --k 100`
  submit:R                           `hmrec submit --ranker R ... --out WORKDIR/submission-R.csv` (validated)

Resumable: a step already recorded in steps.jsonl with the same command is not run again (its line is
printed with "resumed": true; --redo runs everything); a step whose hmrec output is in the cache is
answered from it by hmrec itself and marked "cached": true.

Profiles (the options each step gets; see PROFILES):
  cpu  2 cores, no GPU: 5 training weeks (the rankers learn from 4, the newest picks their epoch
       or trees); sampled-softmax on 4 weeks for 1 epoch; lgbm on 10% of the negatives; DIN on
       10% of the negatives, 32 purchases of history, 2 epochs (its best epoch at full scale in
       every 3-epoch run), 2,000 buyers validating each epoch (scoring every candidate of 5,000
       validation buyers took 52% of DIN's fit on the small world: py-spy, load 16). The
       submission's lgbm scores each customer's first 100 candidates in merge's order with its
       trees (-o score_top=100: ~410M candidate rows for all customers, a third of them scored); DIN's
       submission scores the same first 100 with its network (din's score_top, the same parameter).
  gpu  --device cuda, 5 training weeks: sampled-softmax and DIN with their defaults (8 weeks x 4 epochs; 10% of the
       negatives, 32 purchases, up to 8 epochs); lgbm on half of the negatives.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

from ingest_full import machine, packages, parse_time

TIME = Path("/usr/bin/time")
SOURCES = ("popular", "repurchase", "same-product", "itemcf", "als", "sampled-softmax")
PROFILES = {
    "cpu": {
        "device": "cpu",
        "train_weeks": 5,
        "sources": ["sampled-softmax:weeks=4", "sampled-softmax:epochs=1"],
        "merge": [],
        "lgbm": ["-o", "negative_share=0.1"],
        "din": ["-o", "negative_share=0.1", "-o", "history_length=32", "-o", "epochs=2", "-o", "valid_customers=2000"],
        "submit": {"lgbm": ["-o", "score_top=100"], "din": ["-o", "score_top=100"]},
        "submit_train_weeks": 4,  # the submission run measured in docs/results.md (54.4 min with lgbm)
    },
    "gpu": {
        "device": "cuda",
        "train_weeks": 5,
        "sources": [],
        "merge": [],
        "lgbm": ["-o", "negative_share=0.5"],
        "din": [],
    },
}


class Pipeline:
    """Runs steps, records them in `log` and skips the ones a previous run recorded."""

    def __init__(self, workdir: Path, redo: bool):
        self.hmrec = str(Path(sys.executable).parent / "hmrec")
        self.log = workdir / "steps.jsonl"
        self.done = (
            {}
            if redo or not self.log.is_file()
            else {r["command"]: r for r in map(json.loads, self.log.read_text().splitlines()) if r.get("ok")}
        )
        self.results: list[dict] = []

    def step(self, name: str, *args: str, figures=lambda out: {}) -> dict:
        command = " ".join([self.hmrec, *args])
        if command in self.done:
            record = {**self.done[command], "resumed": True}
            return self._emit(record)
        started = time.strftime("%H:%M:%S", time.gmtime())
        load = os.getloadavg()[0]
        if TIME.is_file():
            done = subprocess.run([str(TIME), "-v", self.hmrec, *args], capture_output=True, text=True)
            wall, peak = parse_time(done.stderr)
            cpu = sum(float(m) for m in re.findall(r"(?:User|System) time \(seconds\): ([0-9.]+)", done.stderr))
        else:  # a bare image without GNU time: wall clock here, peak RSS of the largest child so far
            begun = time.perf_counter()
            done = subprocess.run([self.hmrec, *args], capture_output=True, text=True)
            wall, peak = time.perf_counter() - begun, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
            cpu = None
        record = {
            "step": name,
            "command": command,
            "started_utc": started,
            "load_1min": round(load, 1),
            "wall_s": round(wall, 1),
            "cpu_s": cpu and round(cpu, 1),
            "peak_rss_gib": round(peak, 2),
            "ok": done.returncode == 0,
        }
        if done.returncode != 0:
            record["error"] = done.stderr.split("\tCommand being timed")[0][-2000:]
        elif "--json" in args:
            out = json.loads(done.stdout)
            record.update(cached=bool(out.get("cached", False)), **figures(out))
        with self.log.open("a") as f:
            f.write(json.dumps(record) + "\n")
        self._emit(record)
        if not record["ok"]:
            raise SystemExit(f"step {name} failed:\n{record['error']}")
        return record

    def _emit(self, record: dict) -> dict:
        print(json.dumps(record), flush=True)
        self.results.append(record)
        return record


def source_figures(out: dict) -> dict:
    """rows of the candidate set, and its own order's MAP@12 and recall@100 when the week has buyers."""
    f = out.get("figures") or {}
    return {
        "rows": out.get("rows"),
        "customers": out.get("customer_count"),
        **{k: f[k] for k in ("map@12", "recall@100") if k in f},
    }


def rank_figures(out: dict) -> dict:
    f = out.get("figures", {})
    return {
        "ranking": out["name"],
        "rows": out.get("rows"),
        "training_rows": out.get("training_rows"),
        "map@12": f.get("map@12"),
        "oracle_map@12": f.get("oracle_map@12"),
        "union_recall@all": f.get("union_recall@all"),
        "fit_s": out.get("fit_seconds"),
        "score_s": out.get("score_seconds"),
        "epoch_s": [e["seconds"] for e in (out.get("training") or {}).get("epochs") or []],
        "newest_training_week": out.get("newest_training_week"),
    }


def evaluate_figures(out: dict) -> dict:
    text = json.dumps(out)
    found = {k: re.search(rf'"{re.escape(k)}": ([0-9.e-]+)', text) for k in ("map@12", "oracle_map@12", "customers")}
    return {k: float(m.group(1)) for k, m in found.items() if m}


def submit_figures(out: dict) -> dict:
    return {"rows": out.get("customers"), "validated": out.get("validated")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, required=True, help="synthetic files, store, cache, submissions and steps.jsonl"
    )
    parser.add_argument(
        "--scale", default="full", help="synthetic world to write when neither --data nor --raw is given"
    )
    parser.add_argument("--raw", type=Path, help="a folder of Kaggle CSVs to ingest")
    parser.add_argument("--data", type=Path, help="an existing store (no synth, no ingest)")
    parser.add_argument("--cache", type=Path, help="the cache folder (default WORKDIR/cache)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="cpu")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument(
        "--rankers", default="lgbm,din", help="learned rankers (merge always runs first as the baseline)"
    )
    parser.add_argument("--part", choices=("validation", "submission", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redo", action="store_true", help="run every step again, whatever steps.jsonl holds")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    profile = PROFILES[args.profile]
    pipe = Pipeline(args.workdir, args.redo)
    print(
        json.dumps(
            {
                "machine": machine(),
                "packages": packages(),
                "profile": args.profile,
                "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                "load_1min": os.getloadavg()[0],
            }
        ),
        flush=True,
    )

    store = args.data
    if store is None:
        raw = args.raw
        if raw is None:
            raw = args.workdir / f"{args.scale}-raw"
            if not (raw / "transactions_train.csv").is_file():
                pipe.step(
                    "synth", "data", "synth", "--scale", args.scale, "--seed", str(args.seed), "--out", str(raw), "-q"
                )
        store = args.workdir / "store"
        pipe.step("ingest", "data", "ingest", str(raw), "--data", str(store), "-q")
    cache = args.cache or args.workdir / "cache"
    common = ["--data", str(store), "--cache", str(cache), "--seed", str(args.seed)]
    device = ["--device", profile["device"]]
    sources = args.sources.split(",")
    chosen = [o for o in profile["sources"] if o.split(":")[0] in sources]  # method:key=value
    source_opts = [x for o in chosen for x in ("-o", o)]
    own = lambda method: [x for o in chosen if o.startswith(f"{method}:") for x in ("-o", o.split(":", 1)[1])]  # noqa: E731
    rankers = ["merge", *[r for r in args.rankers.split(",") if r and r != "merge"]]
    candidates = ",".join(sources)

    if args.part in ("validation", "all"):
        for method in sources:
            for week in [
                *map(str, range(profile["train_weeks"], 0, -1)),
                "last",
            ]:  # the training weeks and the target week, each fitted before it
                pipe.step(
                    f"source:{method}:{week}",
                    "recall",
                    "--method",
                    method,
                    "--week",
                    week,
                    "--k",
                    "100",
                    *own(method),
                    *common,
                    *device,
                    "--json",
                    "-q",
                    figures=source_figures,
                )
        for ranker in rankers:
            ranked = pipe.step(
                f"rank:{ranker}",
                "rank",
                "--ranker",
                ranker,
                "--candidates",
                candidates,
                "--week",
                "last",
                "--train-weeks",
                str(profile["train_weeks"]),
                "--k",
                "100",
                *source_opts,
                *profile[ranker],
                *common,
                *device,
                "--json",
                "-q",
                figures=rank_figures,
            )
            pipe.step(
                f"evaluate:{ranker}",
                "evaluate",
                "--week",
                "last",
                "--predictions",
                ranked["ranking"],
                *common,
                "--json",
                "-q",
                figures=evaluate_figures,
            )
    if args.part in ("submission", "all"):
        for method in sources:
            pipe.step(
                f"next:{method}",
                "recall",
                "--method",
                method,
                "--week",
                "next",
                "--customers",
                "all",
                "--k",
                "100",
                *own(method),
                *common,
                *device,
                "--json",
                "-q",
                figures=source_figures,
            )
        for ranker in [r for r in rankers if r != "merge"]:
            pipe.step(
                f"submit:{ranker}",
                "submit",
                "--ranker",
                ranker,
                "--candidates",
                candidates,
                "--train-weeks",
                str(profile.get("submit_train_weeks", profile["train_weeks"])),
                *source_opts,
                *profile[ranker],
                *profile.get("submit", {}).get(ranker, []),
                "--out",
                str(args.workdir / f"submission-{ranker}.csv"),
                *common,
                *device,
                "--json",
                "-q",
                figures=submit_figures,
            )
    summary(pipe.results)


def summary(results: list[dict]) -> None:
    """One row per step, then the validation bars: wall and peak of the validation part, the
    learned rankers against merge and as a share of the oracle."""
    print(f"\n{'step':<24}{'wall s':>9}{'CPU s':>9}{'load':>6}{'peak GiB':>10}{'rows':>13}{'MAP@12':>9}  note")
    for r in results:
        rows = f"{r['rows']:,}" if isinstance(r.get("rows"), int) else ""
        score = f"{r['map@12']:.4f}" if isinstance(r.get("map@12"), float) else ""
        note = "resumed" if r.get("resumed") else ("cached" if r.get("cached") else "")
        cpu = f"{r['cpu_s']:.0f}" if r.get("cpu_s") is not None else ""
        print(
            f"{r['step']:<24}{r['wall_s']:>9.1f}{cpu:>9}{r.get('load_1min', 0):>6.1f}{r['peak_rss_gib']:>10.2f}{rows:>13}{score:>9}  {note}"
        )
    scores = {r["step"].split(":")[1]: r for r in results if r["step"].startswith("evaluate:")}
    if "merge" in scores:
        merge = scores["merge"]["map@12"]
        for name, r in scores.items():
            oracle = r.get("oracle_map@12")
            share = f", {r['map@12'] / oracle:.0%} of the oracle ({oracle:.4f})" if oracle else ""
            print(f"{name}: MAP@12 {r['map@12']:.4f} = {r['map@12'] / merge:.2f}x merge{share}")
    sources = [r for r in results if r["step"].startswith("source:")]
    for name in scores:
        mine = sources + [r for r in results if r["step"] in (f"rank:{name}", f"evaluate:{name}")]
        print(
            f"validation with {name}: {sum(r['wall_s'] for r in mine) / 60:.1f} min of steps, {sum(r.get('cpu_s') or 0 for r in mine) / 60:.1f} CPU-min, peak {max(r['peak_rss_gib'] for r in mine):.2f} GiB"
        )
    for r in results:
        if r["step"].startswith("submit:"):
            mine = [x for x in results if x["step"].startswith("next:")] + [r]
            print(
                f"submission with {r['step'][7:]}: {sum(x['wall_s'] for x in mine) / 60:.1f} min of steps, {sum(x.get('cpu_s') or 0 for x in mine) / 60:.1f} CPU-min, peak {max(x['peak_rss_gib'] for x in mine):.2f} GiB"
            )


if __name__ == "__main__":
    main()
