# fringenet — set-up, demo and tests. Each target installs first if needed, so each works alone
# on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: temporal-models install demo test lint typecheck clean models

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/fringenet demo --out demo_output

# Train the models shipped in the package from scratch (about 5 hours on 2 CPU cores) and copy their
# bundles into src/fringenet/models/weights/ (see docs/models.md). The detector candidates (stage one, its
# full-resolution U-Net counterpart, that U-Net trained further on 192 px and then 256 px windows, and stage
# one trained further with broader sources; scanned with their own and 256 px windows) and the Mask Net train
# on interferograms generated on the fly (fringenet.simulate.realistic). benchmarks/select_detector.py then
# ships the candidate, scan window, threshold and hysteresis that score best on a held-apart seed of the independent generator (never on real
# data); the generalisation benchmark and the atmosphere calibration follow. The benchmarks need the bench
# extra (troposim, okada-wrapper; the latter builds with gfortran).
MODELS := build/models
CANDIDATES := --model "stage one (128 px)=$(MODELS)/detector" \
	--model "stage one, 256 px windows=$(MODELS)/detector@256" \
	--model "U-Net (128 px)=$(MODELS)/detector-unet" \
	--model "U-Net, 256 px windows=$(MODELS)/detector-unet@256" \
	--model "U-Net + 192 px (192 px)=$(MODELS)/detector-unet-192" \
	--model "U-Net + 192 px, 256 px windows=$(MODELS)/detector-unet-192@256" \
	--model "U-Net + 192 + 256 px (256 px)=$(MODELS)/detector-unet-256" \
	--model "stage one continued (128 px)=$(MODELS)/detector-continued" \
	--model "stage one continued, 256 px windows=$(MODELS)/detector-continued@256"
models: install
	rm -rf $(MODELS)/detector $(MODELS)/detector-unet $(MODELS)/detector-unet-192 $(MODELS)/detector-unet-256 \
		$(MODELS)/detector-continued $(MODELS)/masknet
	$(BIN)/fringenet train --config configs/detector-generated.yaml --out $(MODELS)/detector
	$(BIN)/fringenet train --config configs/detector-unet.yaml --out $(MODELS)/detector-unet
	$(BIN)/fringenet train --config configs/detector-unet-192.yaml --out $(MODELS)/detector-unet-192
	$(BIN)/fringenet train --config configs/detector-unet-256.yaml --out $(MODELS)/detector-unet-256
	$(BIN)/fringenet train --config configs/detector-generated-continued.yaml --out $(MODELS)/detector-continued
	$(BIN)/fringenet train --config configs/masknet-generated.yaml --out $(MODELS)/masknet
	$(BIN)/fringenet models ship $(MODELS)/masknet/model --name masknet
	$(BIN)/fringenet train-unwrapper --config configs/punet.yaml --out $(MODELS)/punet
	$(BIN)/fringenet models ship $(MODELS)/punet/model --name punet
	$(BIN)/python -m pip install -c constraints.txt -e ".[dev,bench]"
	$(BIN)/python benchmarks/select_detector.py --write-docs --ship detector $(CANDIDATES)
	$(MAKE) $(MODELS)/old-detector
	$(BIN)/python benchmarks/generalisation.py --write-docs $(CANDIDATES)
	$(BIN)/python benchmarks/atmosphere_calibration.py --write-docs

# The detector shipped before issue 11, from git history: the benchmark's starting point.
$(MODELS)/old-detector:
	rm -rf $@.tmp && mkdir -p $@.tmp
	git show d397d61:src/fringenet/models/weights/detector/bundle.json > $@.tmp/bundle.json
	git show d397d61:src/fringenet/models/weights/detector/model.safetensors > $@.tmp/model.safetensors
	mv $@.tmp $@

TEMPORAL_RUNS = st-transformer coherence-transformer hybrid hybrid-mae hybrid-10pct-scratch hybrid-10pct-mae shipped

# time-series models (issue 5): simulated SLC stacks, the three transformers, MAE pre-training and the
# 10 %-label comparison, then the benchmark against SNAPHU + SBAS (results: docs/benchmarks.md)
temporal-models: install
	$(BIN)/fringenet dataset build --config configs/temporal-dataset.yaml --out data/temporal --overwrite
	for run in $(TEMPORAL_RUNS); do \
		$(BIN)/fringenet train --config configs/temporal-$$run.yaml --out runs/temporal-$$run || exit 1; \
	done
	$(BIN)/fringenet models ship runs/temporal-shipped/model --name temporal
	$(BIN)/python benchmarks/temporal.py --runs runs --dataset data/temporal

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest -q --timeout=600

clean:
	rm -rf $(VENV) demo_output build .pytest_cache .ruff_cache .mypy_cache
