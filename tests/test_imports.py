"""``import advcluster`` and the command line's start leave scikit-learn and scipy.optimize
unimported (about a second between them); the names that need them load on first use."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sklearn", "scipy.optimize")

PROBE = """
import json, sys
{code}
print(json.dumps({{m: m in sys.modules for m in {heavy!r}}}))
"""


def _loaded(code):
    out = subprocess.run([sys.executable, "-c", PROBE.format(code=code, heavy=HEAVY)], capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("code", [
    "import advcluster",
    "import advcluster.cli",
    "from advcluster.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass",
])
def test_start_up_does_not_import_the_heavy_modules(code):
    assert _loaded(code) == {m: False for m in HEAVY}


def test_lazy_names_load_on_first_use():
    import advcluster

    from advcluster.estimator import ConvexClustering, UnprovenLabelsWarning

    assert advcluster.ConvexClustering is ConvexClustering
    assert advcluster.UnprovenLabelsWarning is UnprovenLabelsWarning
    assert {"ConvexClustering", "UnprovenLabelsWarning"} <= set(dir(advcluster))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        advcluster.nope  # noqa: B018
    assert _loaded("from advcluster import ConvexClustering")["sklearn"]
