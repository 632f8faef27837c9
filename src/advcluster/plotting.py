"""Figures of the paper's Section 6, each drawn from one tidy experiment table.

Every function takes a table (a mapping ``column name -> list or 1-D array``, all columns of
equal length, as produced by :mod:`advcluster.experiments`) and returns a new
:class:`matplotlib.figure.Figure`, or the Axes it drew on when ``ax`` is given. The functions
never touch pyplot: figures are built directly on the non-interactive Agg canvas, so nothing
leaks into global state and no display is needed.

==========  =======================  =========================================================
name        function                 what it shows
==========  =======================  =========================================================
``fig4``    :func:`plot_robustness`  ``delta`` and ``N_c`` near ``eps = 0``, robust interval shaded
``fig5``    :func:`plot_staircase`   grid evaluations as dots, the exact staircase as segments
``fig6``    :func:`plot_bilevel`     BL1 (best ``delta`` for a budget), BL2 (least ``|eps|``)
``fig7``    :func:`plot_similarity`  Rand index and NMI against ``eps``
``fig8``    :func:`plot_overlay`     every deviation measure scaled to [0, 1] on one axes
==========  =======================  =========================================================

All functions share the signature ``f(table, *, ax=None, title=None, dataset=None,
params=None)``: ``dataset`` prefixes the default title, ``params`` is the experiment's
parameter dict (``fig4`` reads ``robust_interval``; ``standardize`` chooses the unit of
``eps`` in the axis label). New figures are :data:`FIGSIZE` inches at :data:`DPI` dots per
inch, so :func:`save_figure` writes 800 x 450 pixel PNGs.

matplotlib is an optional dependency: ``pip install 'advcluster[plot]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .io import atomic_write

__all__ = [
    "FIGSIZE",
    "DPI",
    "FIGURES",
    "plot_robustness",
    "plot_staircase",
    "plot_bilevel",
    "plot_similarity",
    "plot_overlay",
    "plot_clusterpath",
    "fusion_heights",
    "save_figure",
]

FIGSIZE = (8.0, 4.5)
"""Size of every new figure, in inches."""
DPI = 100
"""Dots per inch of saved PNGs: ``FIGSIZE`` becomes 800 x 450 pixels."""

_INSTALL_HINT = "plotting needs matplotlib; install it with: pip install 'advcluster[plot]'"

# Colours: matplotlib's default cycle, named once so both panels of a figure agree.
_C_DELTA, _C_NC, _C_SHADE, _C_STAIR = "C0", "C1", "C2", "C3"


# ----------------------------------------------------------------------------- helpers


def _matplotlib():
    """Import what is needed from matplotlib, or say how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(_INSTALL_HINT) from exc
    return Figure, FigureCanvasAgg


def _new_figure(ncols: int = 1):
    """A figure of ``FIGSIZE`` on an Agg canvas with ``ncols`` Axes side by side."""
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def _columns(table, required: Sequence[str], schema: str) -> dict[str, np.ndarray]:
    """The required columns of ``table`` as 1-D arrays, after checking names and lengths."""
    if hasattr(table, "to_dict") and not isinstance(table, Mapping):  # a pandas DataFrame
        table = table.to_dict(orient="list")
    if not isinstance(table, Mapping):
        raise TypeError(f"the {schema} table must be a mapping column -> values, got {type(table).__name__}.")
    missing = [c for c in required if c not in table]
    if missing:
        raise ValueError(
            f"the {schema} table lacks column(s) {missing}; it has {sorted(table)}. "
            f"A {schema} table needs {list(required)}."
        )
    cols = {c: np.asarray(table[c]) for c in required}
    lengths = {c: v.shape for c, v in cols.items()}
    bad = {c: s for c, s in lengths.items() if len(s) != 1}
    if bad:
        raise ValueError(f"the {schema} table's columns must be 1-D; got shapes {bad}.")
    if len({s[0] for s in lengths.values()}) > 1:
        raise ValueError(f"the {schema} table's columns differ in length: { {c: s[0] for c, s in lengths.items()} }.")
    return cols


def _float(values) -> np.ndarray:
    return np.asarray(values, dtype=float)


def _eps_unit(params) -> str:
    """The unit of ``eps``: the feature's standard deviation when it was standardised."""
    standardize = (params or {}).get("standardize")
    if standardize is True:
        return "feature std. devs"
    if standardize is False:
        return "feature units"
    return "units of the attacked feature"


def _eps_label(params, short: bool = False) -> str:
    return f"{'eps' if short else 'perturbation eps'} ({_eps_unit(params)})"


def _title(title, dataset, default: str) -> str:
    if title is not None:
        return title
    return f"{dataset}: {default}" if dataset else default[:1].upper() + default[1:]


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _ms(n_points: int) -> float:
    """Marker size for a line of ``n_points``: visible dots on a coarse grid, none on a fine one."""
    return 3.0 if n_points <= 80 else 0.0


def _axes_of(ax, n: int):
    """``(figure or None, list of n Axes, what to return)`` for a plot needing up to n panels."""
    if ax is None:
        fig, axes = _new_figure(n)
        return fig, axes, fig
    if isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax)) if isinstance(ax, np.ndarray) else list(ax)
        if len(axes) != n:
            raise ValueError(f"ax must be one Axes or a sequence of {n}; got {len(axes)}.")
        return None, axes, ax
    return None, [ax], ax


def _set_title(fig, axes, text: str) -> None:
    if fig is not None and len(axes) > 1:
        fig.suptitle(text)
    else:
        axes[0].set_title(text)


# ----------------------------------------------------------------------------- fig4


def plot_robustness(table, *, ax=None, title=None, dataset=None, params=None):
    """Figure 4: ``N_c`` and ``delta`` against ``eps`` near 0, the robust interval shaded.

    Parameters
    ----------
    table : mapping
        Columns ``eps, delta, n_changed, n_clusters``.
    ax : matplotlib Axes, optional
        Draw here (``N_c`` goes on a twin y axis) and return ``ax``.
    title, dataset : str, optional
        The title, or the data set's name to put in front of the default title.
    params : dict, optional
        ``robust_interval = [lo, hi]``: the exact interval around 0 on which nothing changes.
        Without it the interval is read off the grid (the zero run around ``eps = 0``).

    Returns
    -------
    Figure, or ``ax`` when given.
    """
    cols = _columns(table, ("eps", "delta", "n_changed", "n_clusters"), "fig4")
    order = np.argsort(_float(cols["eps"]), kind="stable")
    eps, delta, nc = (_float(cols[c])[order] for c in ("eps", "delta", "n_changed"))
    fig, (ax0,), out = _axes_of(ax, 1)

    interval = (params or {}).get("robust_interval")
    exact = interval is not None
    if interval is None:
        interval = _zero_run(eps, (delta == 0) & (nc == 0))
    if interval is not None:
        lo, hi = (float(v) for v in interval)
        span = (eps.min(), eps.max()) if eps.size else (lo, hi)
        shown = (lo if np.isfinite(lo) else span[0], hi if np.isfinite(hi) else span[1])  # [-inf, inf]: all
        which = "exact" if exact else "on the grid"
        ax0.axvspan(*shown, color=_C_SHADE, alpha=0.2, lw=0,
                    label=f"no change ({which}): [{_fmt(lo)}, {_fmt(hi)}]")

    ax0.plot(eps, delta, color=_C_DELTA, marker="o", ms=_ms(eps.size), lw=1.2, label="delta (left axis)")
    ax0.set_xlabel(_eps_label(params))
    ax0.set_ylabel("delta (ordered pairs whose co-membership changed)", color=_C_DELTA)
    ax0.tick_params(axis="y", colors=_C_DELTA)
    twin = ax0.twinx()
    twin.plot(eps, nc, color=_C_NC, marker="s", ms=_ms(eps.size), lw=1.0, ls="--", label="N_c (right axis)")
    twin.set_ylabel("N_c (samples whose label changed)", color=_C_NC)
    twin.tick_params(axis="y", colors=_C_NC)
    for axis, values in ((ax0, delta), (twin, nc)):  # room above the data for the legend
        top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 1.0
        top = top if top > 0 else 1.0
        axis.set_ylim(-0.04 * top, 1.3 * top)
    ax0.axvline(0.0, color="0.5", lw=0.6, ls=":")
    handles = ax0.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax0.legend(handles=handles, loc="upper center", fontsize="small", framealpha=0.9)
    if interval is not None:
        default = f"nothing changes for eps in [{_fmt(lo)}, {_fmt(hi)}] (shaded)"
    else:
        default = "deviation near eps = 0"
    ax0.set_title(_title(title, dataset, default))
    return out


def _zero_run(eps: np.ndarray, zero: np.ndarray):
    """The grid interval ``[eps[i], eps[j]]`` of the run of ``zero`` that contains ``eps = 0``."""
    if eps.size == 0:
        return None
    i0 = int(np.argmin(np.abs(eps)))
    if not zero[i0]:
        return None
    i, j = i0, i0
    while i > 0 and zero[i - 1]:
        i -= 1
    while j < eps.size - 1 and zero[j + 1]:
        j += 1
    return eps[i], eps[j]


# ----------------------------------------------------------------------------- fig5


def plot_staircase(table, *, ax=None, title=None, dataset=None, params=None):
    """Figure 5: ``delta`` and ``N_c`` against ``eps``, grid dots and the exact staircase.

    Parameters
    ----------
    table : mapping
        Columns ``source ("grid" | "staircase"), eps, delta, n_changed, n_clusters, plateau``.
        Staircase rows give each plateau's lower and upper end (same ``plateau`` number);
        each plateau is drawn as a horizontal segment, the jumps as thin dotted lines.
    ax : Axes or pair of Axes, optional
        One Axes: ``delta`` only. Two: ``delta`` and ``N_c``. Returned as given.
    title, dataset, params : see :func:`plot_robustness`.

    Returns
    -------
    Figure (two panels), or ``ax`` when given.
    """
    cols = _columns(table, ("source", "eps", "delta", "n_changed", "n_clusters", "plateau"), "fig5")
    source = cols["source"].astype(str)
    eps = _float(cols["eps"])
    plateau = np.asarray(cols["plateau"]).astype(int)
    fig, axes, out = _axes_of(ax, 2)
    grid = source == "grid"
    stair = source == "staircase"
    ids = list(dict.fromkeys(plateau[stair].tolist()))
    panels = [("delta", "delta (ordered pairs changed)"), ("n_changed", "N_c (labels changed)")]
    for axis, (column, ylabel) in zip(axes, panels):
        values = _float(cols[column])
        if grid.any():
            axis.plot(eps[grid], values[grid], ls="none", marker="o", ms=3, color=_C_DELTA,
                      alpha=0.7, label=f"grid ({int(grid.sum())} values of eps)")
        if ids:
            lo = np.array([eps[stair & (plateau == p)].min() for p in ids])
            hi = np.array([eps[stair & (plateau == p)].max() for p in ids])
            level = np.array([values[stair & (plateau == p)][0] for p in ids])
            order = np.argsort(lo, kind="stable")
            lo, hi, level = lo[order], hi[order], level[order]
            path_x = np.column_stack([lo, hi]).ravel()
            path_y = np.repeat(level, 2)
            axis.plot(path_x, path_y, color=_C_STAIR, lw=0.8, ls=":")
            axis.hlines(level, lo, hi, colors=_C_STAIR, lw=2.2, label=f"exact staircase ({len(ids)} plateaus)")
            point = lo == hi
            if point.any():
                axis.plot(lo[point], level[point], ls="none", marker="_", ms=8, mew=2.2, color=_C_STAIR)
        axis.set_xlabel(_eps_label(params, short=len(axes) > 1))
        axis.set_ylabel(ylabel)
        axis.set_ylim(bottom=min(0.0, axis.get_ylim()[0]))
        axis.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small", framealpha=0.9)
    n = len(ids)
    default = (f"delta and N_c are piecewise constant in eps ({n} plateaus)" if n
               else "delta and N_c against eps")
    _set_title(fig, axes, _title(title, dataset, default))
    return out


# ----------------------------------------------------------------------------- fig6


def plot_bilevel(table, *, ax=None, title=None, dataset=None, params=None):
    """Figure 6: the two bilevel problems solved by the grid and by the exact staircase.

    Left: BL1, the best ``delta`` reachable with ``|eps| <= budget``, against the budget
    (step lines, one per method). Right: BL2, the least ``|eps|`` reaching ``delta >= kappa``,
    against the target ``kappa``, marked; targets a method could not reach are marked
    ``v`` on the top edge.

    Parameters
    ----------
    table : mapping
        Columns ``problem ("BL1" | "BL2"), method, level, eps, norm, delta, n_changed,
        feasible``; ``level`` is the budget for BL1 and ``kappa`` for BL2.
    ax : Axes or pair of Axes, optional
        Two Axes: the two panels. One Axes: BL1's steps with BL2's answers overlaid as
        points ``(|eps|, kappa)``, which lie on or below the BL1 curve.
    title, dataset, params : see :func:`plot_robustness`.

    Returns
    -------
    Figure (two panels), or ``ax`` when given.
    """
    cols = _columns(table, ("problem", "method", "level", "eps", "norm", "delta", "n_changed", "feasible"), "fig6")
    problem = cols["problem"].astype(str)
    method = cols["method"].astype(str)
    level, norm, delta = _float(cols["level"]), _float(cols["norm"]), _float(cols["delta"])
    feasible = np.asarray(cols["feasible"]).astype(bool)
    fig, axes, out = _axes_of(ax, 2)
    methods = list(dict.fromkeys(method.tolist()))
    style = {m: dict(color=f"C{k}", marker="os^Dv"[k % 5], mfc="none" if k == 0 else None)
             for k, m in enumerate(methods)}
    overlay = len(axes) == 1
    bl1_ax, bl2_ax = axes[0], axes[0] if overlay else axes[1]

    for m in methods:
        rows = (problem == "BL1") & (method == m)
        if rows.any():
            order = np.argsort(level[rows], kind="stable")
            st = style[m]
            bl1_ax.plot(level[rows][order], delta[rows][order], drawstyle="steps-post", color=st["color"],
                        marker=st["marker"], mfc=st["mfc"], ms=4 + 3 * (st["mfc"] == "none"),
                        lw=1.4, ls="--" if st["mfc"] == "none" else "-", zorder=3 if st["mfc"] == "none" else 2,
                        label=f"BL1, {m}")
    bl1_ax.set_xlabel(f"budget on |eps| ({_eps_unit(params)})")
    bl1_ax.set_ylabel("best delta within the budget (pairs)")
    bl1_ax.set_ylim(bottom=min(0.0, bl1_ax.get_ylim()[0]))

    kappa_rows = problem == "BL2"
    for m in methods:
        rows = kappa_rows & (method == m)
        ok = rows & feasible & np.isfinite(norm)
        st = style[m]
        if ok.any():
            order = np.argsort(level[ok], kind="stable")
            x, y = (norm[ok][order], level[ok][order]) if overlay else (level[ok][order], norm[ok][order])
            bl2_ax.plot(x, y, ls="none", color=st["color"], marker=st["marker"],
                        mfc=st["mfc"], ms=8 if st["mfc"] == "none" else 5, mew=1.5,
                        label=f"BL2, {m}")
            if not overlay and ok.sum() <= 8:  # few targets: write each answer next to its marker
                for xv, yv in zip(x, y):
                    bl2_ax.annotate(f"{yv:.3g}", (xv, yv), xytext=(6, -4 if st["mfc"] is None else 4),
                                    textcoords="offset points", fontsize="x-small", color=st["color"])
        missed = rows & ~ok
        if missed.any() and not overlay:
            bl2_ax.plot(level[missed], np.full(int(missed.sum()), 0.96), ls="none", marker="v", ms=7,
                        color=st["color"],
                        transform=bl2_ax.get_xaxis_transform(), clip_on=False,
                        label=f"BL2, {m}: kappa not reached (top edge)")
    if not overlay:
        bl2_ax.set_xlabel("target kappa (pairs)")
        bl2_ax.set_ylabel(f"least |eps| with delta >= kappa ({_eps_unit(params)})")
        top = float(np.nanmax(norm[kappa_rows & feasible & np.isfinite(norm)], initial=0.0))
        bl2_ax.set_ylim(0.0, 1.2 * top if top > 0 else 1.0)
        bl2_ax.grid(alpha=0.3)
        if bl2_ax.get_legend_handles_labels()[0]:
            bl2_ax.legend(loc="best", fontsize="small", framealpha=0.9)
    bl1_ax.grid(alpha=0.3)
    if bl1_ax.get_legend_handles_labels()[0]:
        bl1_ax.legend(loc="best", fontsize="small", framealpha=0.9)
    default = "BL1, best delta per budget (left); BL2, least |eps| per target (right)"
    if overlay:
        default = "BL1 steps with BL2's answers (|eps|, kappa) on or under them"
    _set_title(fig, axes, _title(title, dataset, default))
    return out


# ----------------------------------------------------------------------------- fig7


def plot_similarity(table, *, ax=None, title=None, dataset=None, params=None):
    """Figure 7: Rand index and NMI between the clean and the attacked clustering.

    Both are 1 when nothing changes; NMI is 0 when the attacked clustering is one cluster.

    Parameters
    ----------
    table : mapping
        Columns ``eps, delta, rand_index, nmi, ri_deviation, n_changed, n_clusters``
        (only ``eps, rand_index, nmi`` are drawn).
    ax, title, dataset, params : see :func:`plot_robustness`.

    Returns
    -------
    Figure, or ``ax`` when given.
    """
    cols = _columns(table, ("eps", "delta", "rand_index", "nmi", "ri_deviation", "n_changed", "n_clusters"), "fig7")
    order = np.argsort(_float(cols["eps"]), kind="stable")
    eps, ri, nmi = (_float(cols[c])[order] for c in ("eps", "rand_index", "nmi"))
    fig, (ax0,), out = _axes_of(ax, 1)
    ax0.plot(eps, ri, color=_C_DELTA, marker="o", ms=_ms(eps.size), lw=1.4, label="Rand index")
    ax0.plot(eps, nmi, color=_C_NC, marker="s", ms=_ms(eps.size), lw=1.2, ls="--", label="NMI")
    ax0.set_xlabel(_eps_label(params))
    ax0.set_ylabel("similarity to the clean clustering (1 = same)")
    ax0.set_ylim(-0.03, 1.05)
    ax0.grid(alpha=0.3)
    ax0.legend(loc="best", fontsize="small", framealpha=0.9)
    if eps.size and np.isfinite(nmi).any():
        default = (f"similarity to the clean clustering (lowest RI {np.nanmin(ri):.2f}, "
                   f"lowest NMI {np.nanmin(nmi):.2f})")
    else:
        default = "Rand index and NMI against eps"
    ax0.set_title(_title(title, dataset, default))
    return out


# ----------------------------------------------------------------------------- fig8


def plot_overlay(table, *, ax=None, title=None, dataset=None, params=None):
    """Figure 8: every deviation measure, each scaled to [0, 1], on one axes against ``eps``.

    Parameters
    ----------
    table : mapping
        Long format, columns ``eps, measure, value``: one line per distinct ``measure``
        (e.g. ``"delta / n(n-1)"``, ``"1 - RI"``, ``"1 - NMI"``, ``"N_c / n"``), in order of
        first appearance.
    ax, title, dataset, params : see :func:`plot_robustness`.

    Returns
    -------
    Figure, or ``ax`` when given.
    """
    cols = _columns(table, ("eps", "measure", "value"), "fig8")
    eps, value = _float(cols["eps"]), _float(cols["value"])
    measure = cols["measure"].astype(str)
    fig, (ax0,), out = _axes_of(ax, 1)
    # Measures can coincide (1 - RI = delta / n(n-1) exactly): earlier lines are drawn wider
    # and lighter, so a line drawn over another one still shows both.
    for k, name in enumerate(dict.fromkeys(measure.tolist())):
        rows = measure == name
        order = np.argsort(eps[rows], kind="stable")
        ax0.plot(eps[rows][order], value[rows][order], color=f"C{k}", marker="os^Dv<>p"[k % 8],
                 ms=_ms(int(rows.sum())), lw=max(1.2, 4.0 - 1.0 * k), alpha=0.85 if k == 0 else 1.0,
                 ls=["-", "--", "-.", ":"][k % 4], label=name)
    ax0.set_xlabel(_eps_label(params))
    ax0.set_ylabel("deviation from the clean clustering (0 = none, 1 = most)")
    ax0.set_ylim(-0.03, 1.05)
    ax0.grid(alpha=0.3)
    if ax0.get_legend_handles_labels()[0]:
        ax0.legend(loc="best", fontsize="small", framealpha=0.9)
    ax0.set_title(_title(title, dataset, "the deviation measures, each scaled to [0, 1], against eps"))
    return out


# ----------------------------------------------------------------------------- registry, saving

def fusion_heights(gammas, labels) -> np.ndarray:
    """``H[i, j]``: the first gamma of the path at which samples ``i`` and ``j`` share a cluster
    (``inf`` for pairs apart at every gamma); ``labels[g]`` are the labels at ``gammas[g]``."""
    n = len(labels[0])
    H = np.full((n, n), np.inf)
    for gamma, lab in sorted(zip(gammas, labels), key=lambda t: t[0]):
        lab = np.asarray(lab)
        same = (lab[:, None] == lab[None, :]) & np.isinf(H)
        H[same] = gamma
    np.fill_diagonal(H, 0.0)
    return H


def plot_clusterpath(X, gammas, centers, labels, *, names=None, title=None, dataset=None):
    """The clusterpath: left, every sample's centre as gamma grows, in 2-D (the first two
    features, or the first two principal components of ``X`` for wider data), the samples as
    dots; right, the dendrogram of the fusions (scipy), a merge at the first gamma of the path
    where the two groups share a cluster (single linkage of :func:`fusion_heights` on log gamma,
    which is the path itself where clusters only merge). Returns the figure."""
    from scipy.cluster.hierarchy import dendrogram, linkage
    from scipy.spatial.distance import squareform

    X = np.asarray(X, dtype=float)
    order = np.argsort(gammas)
    gammas = np.asarray(gammas, dtype=float)[order]
    centers = [np.asarray(centers[i], dtype=float) for i in order]
    labels = [np.asarray(labels[i]) for i in order]
    if X.shape[1] <= 2:
        project, axis = (lambda M: M if M.shape[1] == 2 else np.column_stack([M[:, 0], np.zeros(len(M))])), \
            list(names or ["feature 0", "feature 1"])[:2] + ([""] if X.shape[1] == 1 else [])
    else:
        mean = X.mean(axis=0)
        _, _, vt = np.linalg.svd(X - mean, full_matrices=False)
        project, axis = (lambda M: (M - mean) @ vt[:2].T), ["principal component 1", "principal component 2"]
    fig, (left, right) = _new_figure(2)
    P = np.stack([project(C) for C in centers])  # (gammas, n, 2)
    for i in range(P.shape[1]):
        left.plot(P[:, i, 0], P[:, i, 1], color="0.6", linewidth=0.6, zorder=1)
    A = project(X)
    left.scatter(A[:, 0], A[:, 1], s=12 if len(X) <= 300 else 4, c=labels[len(labels) // 2], cmap="tab10", zorder=2)
    left.set_xlabel(axis[0])
    left.set_ylabel(axis[1])
    left.set_title("centres as gamma grows")
    H = fusion_heights(gammas, labels)
    top = np.log10(gammas[-1]) + 0.5
    D = np.where(np.isinf(H), 10 ** top, np.maximum(H, gammas[0] / 10))
    D = np.log10(D) - np.log10(gammas[0] / 10)
    np.fill_diagonal(D, 0.0)
    Z = linkage(squareform(D, checks=False), method="single")
    dendrogram(Z, ax=right, no_labels=len(X) > 60, color_threshold=0, above_threshold_color="C0")
    ticks = np.arange(np.floor(np.log10(gammas[0])), np.ceil(top))
    right.set_yticks(ticks - np.log10(gammas[0] / 10))
    right.set_yticklabels([f"{10 ** t:g}" for t in ticks])
    right.set_ylabel("gamma at the fusion")
    right.set_title("fusions (dendrogram)")
    _set_title(fig, [left, right], _title(title, dataset, "Clusterpath"))
    return fig


FIGURES = {
    "fig4": plot_robustness,
    "fig5": plot_staircase,
    "fig6": plot_bilevel,
    "fig7": plot_similarity,
    "fig8": plot_overlay,
}
"""Experiment name -> plotting function; each is called as ``f(table, dataset=..., params=...)``."""


def save_figure(fig, stem, svg=True) -> list[Path]:
    """Write ``fig`` as ``stem.png`` (at :data:`DPI`) and, with ``svg``, ``stem.svg``; return the paths.

    A figure made by this module is 800 x 450 pixels. Parent folders are created; a ``.png``
    or ``.svg`` suffix on ``stem`` is dropped. ``fig`` may also be an Axes (its figure is
    saved). The SVG carries no date and fixed ids, so the same figure gives the same file.
    """
    _matplotlib()
    import matplotlib

    if not hasattr(fig, "savefig") and hasattr(fig, "figure"):
        fig = fig.figure
    stem = Path(stem)
    if stem.suffix.lower() in (".png", ".svg"):
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.parent / f"{stem.name}.png"]
    with atomic_write(paths[0], "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI, metadata={"Software": None})
    if svg:
        paths.append(stem.parent / f"{stem.name}.svg")
        with matplotlib.rc_context({"svg.hashsalt": "advcluster", "svg.fonttype": "path"}), \
                atomic_write(paths[1], "wb") as fh:
            fig.savefig(fh, format="svg", metadata={"Date": None})
    return paths
