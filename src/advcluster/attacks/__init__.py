"""Bilevel attacks: the problems BL1 and BL2, the optimizer registry and :func:`attack`.

>>> result = attack(BL1(model, A, Additive(index, [3]), budget=2.0), "staircase")  # doctest: +SKIP
"""

from . import baselines, grid, injection, local, staircase, structure, surrogate  # noqa: F401  (register the optimizers)
from .core import OPTIMIZERS, AttackResult, attack
from .problems import BL1, BL2, Evaluation
from .staircase import Plateau
from .surrogate import surrogate_gradient

__all__ = ["BL1", "BL2", "Evaluation", "AttackResult", "OPTIMIZERS", "attack", "Plateau", "surrogate_gradient"]
