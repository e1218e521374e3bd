"""Entry point of one sandboxed container step (see container.py): `python -m
dockyard.ci.executor.container_step SPEC.json`."""

import sys

from dockyard.ci.executor.container import run_step

if __name__ == "__main__":
    sys.exit(run_step(sys.argv[1]))
