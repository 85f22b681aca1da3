# segsearch — the two commands: `make run` and `make test`. See README.md.
.PHONY: run up down test setup bench lint cluster-up cluster-down test-cluster

run:     ## install what is missing, start everything in the foreground (Ctrl-C stops)
	@bash scripts/run.sh

up:      ## the same services in the background; returns when /healthz is green
	@bash scripts/services.sh start dev

down:    ## stop exactly what `make up` started
	@bash scripts/services.sh stop dev

test:    ## install what is missing, throw-away ES + Redis, the whole suite
	@bash scripts/test.sh

setup:   ## only install (venv, Debian packages, Elasticsearch): see scripts/setup.sh
	@bash scripts/setup.sh

lint:    ## ruff on the code and tests, mypy on segsearch/ and workers/ (pyproject.toml)
	@bash scripts/setup.sh python
	@status=0; \
	.venv/bin/python -m ruff check segsearch workers tests || status=1; \
	.venv/bin/python -m mypy || status=1; \
	exit $$status

bench:   ## the benchmark (not part of test): BENCH_CUSTOMERS=100000 by default
	@bash scripts/setup.sh && .venv/bin/python bench/run.py

cluster-up:    ## a local 3-node cluster, TLS + security on (var/cluster); prints its ES_* settings
	@bash scripts/setup.sh && bash scripts/cluster.sh start

cluster-down:  ## stop the 3-node cluster
	@bash scripts/cluster.sh stop

test-cluster:  ## the whole suite against the 3-node cluster, customers with 3 shards, 1 replica
	@bash scripts/test-cluster.sh
