# hybridports — the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test dev lint fmt golden bench clean

$(STAMP): pyproject.toml scripts/bootstrap.sh
	sh scripts/bootstrap.sh "$(PYTHON)" "$(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

dev: $(STAMP)

## demo: install, plan a bundled example; as root on Linux also build the lab and probe it
demo: $(STAMP)
	$(BIN)/hybridports plan examples/pta-sso/topology.yaml
	@echo
	@echo "More: $(BIN)/hybridports plan examples/<name>/topology.yaml --format json|csv|markdown"
	@echo "      $(BIN)/hybridports catalog"
	@echo "      $(BIN)/hybridports audit examples/pta-sso/topology.yaml --policy examples/pta-sso/policies/gateway.json --policy-format nftables-json --interface lan-servers=10.0.1.0/24 --interface dcs=10.0.2.0/24 --interface office=10.20.0.0/16 --interface wan=0.0.0.0/0"
	@echo "      ansible-playbook -i deploy/ansible/inventory/lab.yml deploy/ansible/fleet.yml   (fleet probe + merged HTML report, see deploy/ansible/README.md)"
	@echo
	sh scripts/lab-demo.sh $(BIN)

## test: install what the tests need, lint, type-check, run every test
test: $(STAMP)
	sh scripts/system-deps.sh
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

## golden: rewrite the golden files after an intended output change (review the diff!)
golden: $(STAMP)
	$(BIN)/pytest tests/test_golden.py tests/merge/test_merge_golden.py tests/audit/test_audit_golden.py --update-golden

bench: $(STAMP)
	$(BIN)/python benchmarks/plan_scale.py
	$(BIN)/python benchmarks/probe_vs_nmap.py
	$(BIN)/python benchmarks/cloud_checks.py
	$(BIN)/python benchmarks/audit_scale.py
	$(BIN)/python benchmarks/merge_scale.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist src/*.egg-info
