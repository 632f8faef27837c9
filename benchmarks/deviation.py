"""Time the deviation measures on n = 10**6 labels; baseline: sklearn.metrics.rand_score.

Run:  python benchmarks/deviation.py [--n 1000000] [--repeat 3] [--seed 0]

For each K, ``ref`` has K clusters drawn uniformly and ``new`` reassigns 10% of
the samples at random.  Each entry is the best of ``--repeat`` runs; ``ratio``
is seconds / seconds of ``rand_score`` on the same input in the same run
(rand_score computes the same information as ``delta``: 1 - RI).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from functools import partial

import numpy as np
import scipy
import sklearn
from sklearn.metrics import rand_score

from importlib.metadata import version
from advcluster.deviation import ari, changed_labels, delta, nmi, rand_deviation

MEASURES = {
    "delta": delta,
    "rand_deviation": rand_deviation,
    "ari": ari,
    "nmi": nmi,
    "changed_labels": changed_labels,
    "changed_labels_matched": partial(changed_labels, match=True),
}


def best_time(func, *args, repeat=3):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        func(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10**6)
    parser.add_argument("--ks", type=int, nargs="+", default=[2, 10, 100])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {platform.platform()}, {platform.processor() or platform.machine()}, cpus={os.cpu_count()}")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
        f"scikit-learn {sklearn.__version__}, advcluster {version('advcluster')}"
    )
    print(f"n = {args.n}, best of {args.repeat}, 10% of labels reassigned\n")

    rng = np.random.default_rng(args.seed)
    rows = []
    for k in args.ks:
        ref = rng.integers(0, k, args.n)
        new = np.where(rng.random(args.n) < 0.1, rng.integers(0, k, args.n), ref)
        base = best_time(rand_score, ref, new, repeat=args.repeat)
        # same answer as the baseline, checked in the same run
        assert delta(ref, new) == round(args.n * (args.n - 1) * (1 - rand_score(ref, new)))
        rows.append(("sklearn rand_score (baseline)", k, base, 1.0))
        for name, func in MEASURES.items():
            sec = best_time(func, ref, new, repeat=args.repeat)
            rows.append((name, k, sec, sec / base))

    print(f"| {'measure':<30} | {'K':>4} | {'seconds':>8} | {'ratio':>6} |")
    print(f"|{'-' * 32}|{'-' * 6}|{'-' * 10}|{'-' * 8}|")
    for name, k, sec, ratio in rows:
        print(f"| {name:<30} | {k:>4} | {sec:>8.4f} | {ratio:>6.2f} |")


if __name__ == "__main__":
    main()
