"""``python -m advcluster.cli``, as ``python -m advcluster``."""

from . import main

raise SystemExit(main())
