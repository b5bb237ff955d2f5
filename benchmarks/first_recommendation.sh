#!/usr/bin/env bash
# Time from `pip install` in a fresh virtual environment to a first recommendation on a generated
# 5,000-row order log (400 customers, 120 items, 10 weeks): install, then ingest, rank (merge on the
# default sources) and `hmrec recommend` for one customer. Run from the repository root; writes to
# ${OUT:-/tmp/first-recommendation}. TORCH= (empty) lets pip choose torch, as in the Makefile.
set -euo pipefail
repo=$(pwd)
out=${OUT:-/tmp/first-recommendation}
torch=${TORCH-torch==2.13.0}
rm -rf "$out" && mkdir -p "$out" && cd "$out"
python3 - <<'PY'
import datetime
import random

random.seed(0)
customers = [f"C {i:04d}" for i in range(400)]
items = [f"SKU-{i:03d}" for i in range(120)]
with open("orders.csv", "w") as f:
    f.write("kunde,artikel,datum,preis\n")
    for _ in range(5000):
        day = datetime.date(2024, 1, 1) + datetime.timedelta(days=random.randrange(70))
        item = random.choice(items[:60] if random.random() < 0.7 else items)
        f.write(f"{random.choice(customers)},{item},{day.isoformat()},{random.uniform(5, 50):.2f}\n")
PY
start=$(date +%s.%N)
python3 -m venv venv
if [ -n "$torch" ]; then venv/bin/pip install -q "$torch"; fi
venv/bin/pip install -q "$repo"
installed=$(date +%s.%N)
venv/bin/hmrec data ingest orders.csv --customer kunde --item artikel --date datum --price preis --data shop -q >/dev/null
venv/bin/hmrec rank --data shop --cache cache --ranker merge --week next -q >/dev/null
venv/bin/hmrec recommend --data shop --cache cache --ranker merge --customer "C 0001" >recommendation.txt
done=$(date +%s.%N)
python3 -c "import sys; s, i, d = map(float, sys.argv[1:]); print(f'install {i - s:.0f} s, ingest + rank + recommend {d - i:.1f} s, total {d - s:.0f} s')" "$start" "$installed" "$done"
