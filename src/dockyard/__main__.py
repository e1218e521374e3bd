"""`python -m dockyard` is the `dockyard` command."""

from dockyard.cli import main

raise SystemExit(main())
