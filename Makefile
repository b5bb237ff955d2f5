# Two set-up commands: `make demo` (install, then run the main job on the synthetic H&M world)
# and `make test` (install with test extras, then run the test suite). Both work on a fresh clone.
VENV  ?= .venv
PY    := $(VENV)/bin/python
HMREC := $(VENV)/bin/hmrec
# torch is installed first and pinned here: on these machines 2.13.0 is a CPU wheel on local disk.
# Elsewhere set TORCH= (empty) to let pip choose, or e.g. TORCH=torch==2.5.1.
TORCH ?= torch==2.13.0
DEMO  ?= demo
SOURCES := popular,repurchase,same-product,itemcf

.PHONY: install demo test clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH),$(PY) -m pip install -q "$(TORCH)")
	$(PY) -m pip install -q -e '.[test]'
	touch $@

demo: install
	rm -rf $(DEMO)
	$(HMREC) data synth --scale small --out $(DEMO)/raw
	$(HMREC) data ingest $(DEMO)/raw --data $(DEMO)/hm
	$(HMREC) data info --data $(DEMO)/hm
	$(HMREC) evaluate --data $(DEMO)/hm --cache $(DEMO)/cache --week last --weeks 2 --candidates popular,repurchase,same-product
	$(HMREC) submit --data $(DEMO)/hm --cache $(DEMO)/cache --candidates repurchase,same-product,popular --out $(DEMO)/submission.csv
	$(HMREC) rank --data $(DEMO)/hm --cache $(DEMO)/cache --ranker merge --candidates $(SOURCES) --week last --train-weeks 4
	$(HMREC) rank --data $(DEMO)/hm --cache $(DEMO)/cache --ranker din --candidates $(SOURCES) --week last --train-weeks 4
	$(HMREC) evaluate --data $(DEMO)/hm --cache $(DEMO)/cache --week last --predictions din
	$(PY) examples/popularity_submission.py --data $(DEMO)/hm --week last --weeks 4 --out-dir $(DEMO)/preds
	$(HMREC) evaluate --data $(DEMO)/hm --week last --weeks 4 --predictions-dir $(DEMO)/preds

test: install
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .hypothesis
