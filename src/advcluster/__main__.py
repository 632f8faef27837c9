"""``python -m advcluster``: the command line (see :mod:`advcluster.cli`)."""

from .cli import main

raise SystemExit(main())
