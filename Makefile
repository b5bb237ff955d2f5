# Two set-up commands: `make demo` (install, then run the main job on the synthetic H&M world)
# and `make test` (install with test extras, then run the test suite). Both work on a fresh clone.
VENV  ?= .venv
PY    := $(VENV)/bin/python
HMREC := $(VENV)/bin/hmrec
# torch is installed first and pinned here: on these machines 2.13.0 is a CPU wheel on local disk.
# Elsewhere set TORCH= (empty) to let pip choose, or e.g. TORCH=torch==2.5.1.
TORCH ?= torch==2.13.0
DEMO  ?= demo
# The retrievers the demo compares and ranks: one list, so a new retriever joins the demo here.
DEMO_SOURCES ?= popular,repurchase,same-product,itemcf,als
# The side-by-side step shows every built-in retriever (tests/test_demo.py checks it): the rest are
# fitted once, for the last week (as DIN's sources they would be fitted for every training week too,
# ~5x the time). Lighter than their defaults, to keep `make demo` short (its time is in docs/results.md): sampled-softmax
# and hsoftmax with 2 epochs, youtube-dnn (a full softmax, the slowest per epoch) with 1 (half and a
# quarter of their training); TDM runs its defaults (no tree-learning round since 2026-11-28).
DEMO_COMPARE ?= $(DEMO_SOURCES),usercf,bpr,youtube-dnn,sampled-softmax,hsoftmax,tdm
DEMO_COMPARE_OPTS ?= -o sampled-softmax:epochs=2 -o hsoftmax:epochs=2 -o youtube-dnn:epochs=1
DEMO_SCALE   ?= small
# DIN with 4 training weeks and 4 epochs: enough purchases to beat merge and every source on the small world in a short run.
DEMO_DIN     ?= --train-weeks 4 -o epochs=4 -o negative_share=0.1
# Every built-in ranker ranks the same candidates: merge (the baseline), lgbm and DIN.
DEMO_LGBM    ?= --train-weeks 4 -o negative_share=0.1

.PHONY: install demo demo-medium demo-run test lint format clean docs

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH),$(PY) -m pip install -q "$(TORCH)")
	$(PY) -m pip install -q -e '.[test,distributed]'
	touch $@

# The whole story on a small synthetic world: synthesize, ingest, retrievers side by side, DIN,
# evaluate, a validated submission, an HTML report. `make demo-medium` is the longer, truer run.
demo: install
	$(MAKE) --no-print-directory demo-run DEMO=$(DEMO) DEMO_SCALE=$(DEMO_SCALE)

demo-medium: install
	$(MAKE) --no-print-directory demo-run DEMO=$(DEMO)-medium DEMO_SCALE=medium DEMO_DIN="--train-weeks 4 -o negative_share=0.05 -o epochs=5"

demo-run:
	rm -rf $(DEMO)
	$(HMREC) data synth --scale $(DEMO_SCALE) --out $(DEMO)/raw
	$(HMREC) data ingest $(DEMO)/raw --data $(DEMO)/hm
	$(HMREC) data weeks --data $(DEMO)/hm
	$(HMREC) evaluate --data $(DEMO)/hm --cache $(DEMO)/cache --week last --candidates $(DEMO_COMPARE) $(DEMO_COMPARE_OPTS) --plot
	$(HMREC) rank --data $(DEMO)/hm --cache $(DEMO)/cache --ranker merge --candidates $(DEMO_SOURCES) --week last --train-weeks 4
	$(HMREC) rank --data $(DEMO)/hm --cache $(DEMO)/cache --ranker lgbm --candidates $(DEMO_SOURCES) --week last $(DEMO_LGBM)
	$(HMREC) rank --data $(DEMO)/hm --cache $(DEMO)/cache --ranker din --candidates $(DEMO_SOURCES) --week last $(DEMO_DIN) --plot
	$(HMREC) evaluate --data $(DEMO)/hm --cache $(DEMO)/cache --week last --predictions din
	$(HMREC) submit --data $(DEMO)/hm --cache $(DEMO)/cache --candidates $(DEMO_SOURCES) --out $(DEMO)/submission.csv
	$(HMREC) report --data $(DEMO)/hm --cache $(DEMO)/cache --week last --out $(DEMO)/report.html

# Regenerate docs/cli.md and docs/plugins.md from the code (tests/test_docs.py checks them).
docs: install
	$(PY) -m hmrec_cli.cli.docs_gen

# The lint (ruff: pyflakes, pycodestyle, isort, bugbear, no heavy import at CLI start-up) and the
# format check run first, so CI fails on a finding; `make format` rewrites the files.
test: install lint
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
