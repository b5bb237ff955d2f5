"""hmrec in a notebook: a tiny synthetic shop, two candidate sources, a ranking, its MAP@12, a submission.

Each `# %%` starts a cell (VS Code, Spyder and Jupytext run them one by one); as a script it runs
them all, in FOLDER (default: a new temporary folder):

    python examples/notebook.py [FOLDER]

The calls are those of `hmrec_cli.api` (docs/api.md); each is the command named beside it, with
the same cache: what the notebook computed, the CLI finds there, and the other way round.
"""

# %%
import sys
import tempfile
from pathlib import Path

from hmrec_cli import api
from hmrec_cli.data.ingest import ingest, locate_sources
from hmrec_cli.synth.world import SCALES, synthesize

work = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="hmrec-notebook-"))

# %% A shop: `hmrec data synth --scale tiny --out raw`, then `hmrec data ingest raw --data shop`
synthesize(work / "raw", SCALES["tiny"], seed=7)
ingest(locate_sources(work / "raw", {}), work / "shop")
shop = api.open(work / "shop", cache=work / "cache")
print(shop.weeks().head(4))

# %% Two candidate sets for the last week: `hmrec recall --method popular`, `--method itemcf`
popular = shop.recall("popular", week="last", k=100)
itemcf = shop.recall("itemcf", week="last", k=100, window_days=56)
print(itemcf.head(3))
print(
    f"{itemcf['customer_id'].n_unique():,} customers, {itemcf.height / itemcf['customer_id'].n_unique():.0f} candidates each"
)

# %% Rank their union, learnt on the 4 weeks before: `hmrec rank --ranker merge --candidates popular,itemcf -o itemcf:window_days=56`
top = shop.rank("merge", candidates=["popular", "itemcf"], week="last", train_weeks=4, **{"itemcf:window_days": 56})
print(top.filter(top["customer_id"] == top["customer_id"][0]))

# %% Score it on the week's buyers: `hmrec evaluate --predictions merge`
figures = shop.evaluate(top, week="last")
print(
    f"MAP@12 {figures['map@12']:.4f} (recall@12 {figures['recall@12']:.4f}) over {figures['scored_customers']} buyers; "
    f"the synthetic world's ceiling is {figures['oracle_map@12']:.4f}"
)
for name, candidates in (("popular", popular), ("itemcf", itemcf)):
    print(f"  {name} in its own order: MAP@12 {shop.evaluate(candidates, week='last')['map@12']:.4f}")

# %% The Kaggle submission for the week after the data: `hmrec submit --candidates popular,itemcf --ranker merge --out submission.csv`
path = shop.submit(
    work / "submission.csv", candidates=["popular", "itemcf"], ranker="merge", **{"itemcf:window_days": 56}
)
print(f"wrote {path}")
