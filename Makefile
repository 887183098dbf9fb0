# homfx: the two set-up commands are `make demo` and `make test`; each installs what is missing.
VENV    ?= .venv
PY      := $(VENV)/bin/python
MPIRUN  := $(VENV)/bin/mpirun
NP      ?= 2
DEMO    ?= demos/dmri_homogenized.py
export OMP_NUM_THREADS ?= 1

.PHONY: venv demo test test-serial test-mpi bench reproduce clean

venv:
	@bash tools/bootstrap.sh

## make demo: the main demo under mpirun -n $(NP); figures and data under out/
demo: venv
	$(MPIRUN) -n $(NP) $(PY) $(DEMO)

## make test: pytest serially, then the MPI-marked tests under mpirun -n 2; fails if either fails
test: venv
	@bash tools/run-tests.sh

test-serial: venv
	$(PY) -m pytest -q

test-mpi: venv
	$(MPIRUN) -n 2 $(PY) -m pytest -q -m "mpi and not slow"

## make bench: timing ratios measured in one run (bench/README.md)
bench: venv
	@bash bench/run

## make reproduce: the slow reproductions (pytest -m slow)
reproduce: venv
	$(PY) -m pytest -q -m slow

clean:
	rm -rf out .pytest_cache
