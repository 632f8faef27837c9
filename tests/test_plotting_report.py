"""Figures (advcluster.plotting) and the reproduction report (advcluster.report).

Synthetic tables of each experiment schema go through every plot function and
``save_figure``; the PNGs are checked for size and content, the SVGs for well-formed XML.
The report is checked as text and, when a Chromium is installed, rendered by a headless
browser to prove the embedded images decode.
"""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib", reason="plotting needs the optional extra: pip install 'advcluster[plot]'")

import matplotlib.image as mpimg  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from advcluster import plotting  # noqa: E402
from advcluster.report import MAX_ROWS, write_report  # noqa: E402
from browser import BROWSERS, browser, command, measure  # noqa: E402

WIDTH, HEIGHT = 800, 450


# ----------------------------------------------------------------------------- synthetic tables


def _staircase_delta(eps):
    """A step function of eps: 0 near 0, then growing plateaus (like the paper's Figure 5)."""
    eps = np.asarray(eps, dtype=float)
    return np.where(np.abs(eps) < 0.3, 0, 1128 * np.floor(np.abs(eps) + 0.7)).astype(int)


def table_fig4():
    eps = np.linspace(-1.0, 1.0, 41)
    delta = _staircase_delta(eps)
    return {"eps": eps, "delta": delta, "n_changed": (delta > 0) * 6, "n_clusters": np.full(41, 2)}


def table_fig5():
    grid = np.linspace(-3.0, 3.0, 61)
    bounds = [(-3.0, -2.3), (-2.3, -1.3), (-1.3, -0.3), (-0.3, 0.3), (0.3, 1.3), (1.3, 2.3), (2.3, 3.0)]
    s_eps, s_plateau = [], []
    for k, (lo, hi) in enumerate(bounds):
        s_eps += [lo, hi]
        s_plateau += [k, k]
    s_eps = np.array(s_eps)
    mid = np.repeat([(lo + hi) / 2 for lo, hi in bounds], 2)
    eps = np.concatenate([grid, s_eps])
    delta = np.concatenate([_staircase_delta(grid), _staircase_delta(mid)])
    n = len(eps)
    return {
        "source": ["grid"] * len(grid) + ["staircase"] * len(s_eps),
        "eps": eps,
        "delta": delta,
        "n_changed": delta // 100,
        "n_clusters": np.full(n, 2),
        "plateau": [-1] * len(grid) + s_plateau,
    }


def table_fig6():
    rows = {c: [] for c in ("problem", "method", "level", "eps", "norm", "delta", "n_changed", "feasible")}

    def add(problem, method, level, eps, delta, feasible=True):
        for c, v in zip(rows, (problem, method, level, eps, abs(eps), delta, delta // 100, feasible)):
            rows[c].append(v)

    for method, shift in (("grid", 0.05), ("staircase", 0.0)):
        for budget in np.linspace(0, 3, 13):
            add("BL1", method, budget, -budget, int(_staircase_delta(budget - shift)))
        for kappa in (1000, 1200, 2500, 4000):
            need = {1000: 0.3, 1200: 0.3, 2500: 1.3, 4000: np.nan}[kappa] + shift
            add("BL2", method, kappa, need, 0 if np.isnan(need) else kappa, feasible=not np.isnan(need))
    return rows


def table_fig7():
    eps = np.linspace(-3, 3, 61)
    ri = 1 - np.minimum(1, np.abs(eps) / 3) * 0.5
    nmi = np.where(np.abs(eps - 1.5) < 0.4, 0.0, 1 - np.abs(eps) / 4)
    return {"eps": eps, "delta": _staircase_delta(eps), "rand_index": ri, "nmi": nmi,
            "ri_deviation": 1 - ri, "n_changed": _staircase_delta(eps) // 100, "n_clusters": np.full(61, 2)}


def table_fig8():
    eps = np.linspace(-3, 3, 31)
    measures = {"delta / n(n-1)": np.abs(eps) / 3, "1 - RI": np.abs(eps) / 6, "1 - NMI": (np.abs(eps) / 3) ** 2,
                "N_c / n": np.minimum(1, np.abs(eps) / 2)}
    return {"eps": np.tile(eps, len(measures)), "measure": [m for m in measures for _ in eps],
            "value": np.concatenate(list(measures.values()))}


def table_table1():
    """Table 1's shape: 21 columns, long verdict and reason texts."""
    return {
        "dataset": ["iris", "iris", "iris"],
        "method": ["direct", "trust-constr", "staircase"],
        "n": [100, 100, 100], "K": [2, 2, 2], "clusters": [2, 2, 2],
        "eps": [-6.45, -7.97, -6.4], "delta": [4974, 4470, 4974], "n_changed": [52, 40, 52],
        "time": [0.5, 0.2, 0.01], "n_evals": [321, 40, 12],
        "paper_eps": [-6.45, -7.97, np.nan], "paper_delta": [4974, 4470, np.nan],
        "paper_n_changed": [52, 40, np.nan], "paper_time": [12.9, 2.202, np.nan],
        "delta_at_paper_eps": [4974, 4470, -1], "n_changed_at_paper_eps": [52, 40, -1],
        "eps_verdict": ["same", "differs", ""], "delta_verdict": ["same", "same", ""],
        "n_changed_verdict": ["same", "same", ""],
        "verdict": ["reproduced exactly", "differs; at the paper's eps* = -7.97: delta and N_c reproduced exactly",
                    "no paper counterpart"],
        "reason": ["", "fmincon's interior-point path is not scipy's; the paper's start point is not printed", ""],
    }


SETTINGS_TEXT = """\
What the paper fixes: the data (Iris feature 4 ...), an additive perturbation ``eps`` on a
set of rows. What it does not report (gamma, ...) is chosen here:

- the feature is standardised (zero mean, unit variance), so one ``eps`` scale and one
  ``gamma`` scale serve the three data sets (Wine's proline runs from 278 to 1680);
- **uniform weights**: the problem is then solved exactly (Hocking et al. 2011) in
  microseconds (advcluster.solvers.exact1d), which makes the exact staircase affordable;

Introducing a list with no blank line:
- one ``a_b`` item
- another, with `single` code
"""


TABLES = {"fig4": table_fig4, "fig5": table_fig5, "fig6": table_fig6, "fig7": table_fig7, "fig8": table_fig8}
PARAMS = {"fig4": {"robust_interval": [-0.3, 0.3], "standardize": True}}


# ----------------------------------------------------------------------------- PNG helpers


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def pixels_of(path: Path) -> np.ndarray:
    """The PNG's pixels as an (n, 3) uint8 array."""
    rgb = (mpimg.imread(path)[..., :3] * 255).round().astype(np.uint8)
    return rgb.reshape(-1, 3)


def n_colours(pixels: np.ndarray) -> int:
    packed = pixels.astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.uint32)
    return len(np.unique(packed))


# ----------------------------------------------------------------------------- plotting


def test_registry_names():
    assert set(plotting.FIGURES) == {"fig4", "fig5", "fig6", "fig7", "fig8"}
    assert all(callable(f) for f in plotting.FIGURES.values())


@pytest.mark.parametrize("name", sorted(TABLES))
def test_figure_png_and_svg(name, tmp_path):
    fig = plotting.FIGURES[name](TABLES[name](), dataset="Iris", params=PARAMS.get(name))
    assert isinstance(fig, Figure)
    title = fig._suptitle.get_text() if fig._suptitle is not None else fig.axes[0].get_title()
    assert title.startswith("Iris: ")
    assert all(ax.get_ylabel() for ax in fig.axes) and fig.axes[0].get_xlabel()
    paths = plotting.save_figure(fig, tmp_path / "out" / f"{name}_iris")
    png, svg = paths
    assert [p.name for p in paths] == [f"{name}_iris.png", f"{name}_iris.svg"]
    assert png.stat().st_size > 5000
    assert png_size(png) == (WIDTH, HEIGHT)
    pixels = pixels_of(png)
    assert pixels.std() > 0, "blank PNG"
    assert n_colours(pixels) > 50
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")


def test_plot_on_given_axes(tmp_path):
    fig = Figure(figsize=(8, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    assert plotting.plot_similarity(table_fig7(), ax=ax, title="custom") is ax
    assert ax.get_title() == "custom"
    pair = Figure(figsize=(8, 4.5)).subplots(1, 2)
    assert plotting.plot_staircase(table_fig5(), ax=pair) is pair
    one = Figure().add_subplot()
    assert plotting.plot_bilevel(table_fig6(), ax=one) is one
    two = Figure().add_subplot()
    assert plotting.plot_robustness(table_fig4(), ax=two) is two  # no params: interval read off the grid
    assert "on the grid" in " ".join(two.get_legend_handles_labels()[1])


def test_staircase_draws_one_segment_per_plateau():
    fig = plotting.plot_staircase(table_fig5())
    segments = [c for c in fig.axes[0].collections if len(c.get_segments()) == 7]
    assert segments, "the 7 plateaus should be drawn as one LineCollection of 7 segments"
    assert "7 plateaus" in fig._suptitle.get_text()


def test_bad_tables_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['plateau'\]"):
        plotting.plot_staircase({k: v for k, v in table_fig5().items() if k != "plateau"})
    bad = table_fig7()
    bad["nmi"] = bad["nmi"][:-1]
    with pytest.raises(ValueError, match="differ in length"):
        plotting.plot_similarity(bad)


def test_save_figure_drops_suffix_and_accepts_axes(tmp_path):
    ax = plotting.plot_overlay(table_fig8(), ax=Figure(figsize=(8, 4.5), dpi=100).add_subplot())
    png, svg = plotting.save_figure(ax, tmp_path / "overlay.png")
    assert png.name == "overlay.png" and svg.name == "overlay.svg"
    assert png_size(png) == (WIDTH, HEIGHT)
    # Deterministic SVG: the same figure twice gives the same bytes.
    again = plotting.save_figure(ax, tmp_path / "again")[1]
    assert svg.read_bytes() == again.read_bytes()


# ----------------------------------------------------------------------------- report


def _marker_figure(path_stem: Path) -> Path:
    """A figure that is mostly pure magenta, to find it in a screenshot."""
    fig = Figure(figsize=plotting.FIGSIZE, dpi=plotting.DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.axvspan(0, 1, color="#ff00ff")
    ax.set_axis_off()
    return plotting.save_figure(fig, path_stem)[0]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    figs = out / "figures"
    marker = _marker_figure(figs / "marker")
    fig4 = plotting.save_figure(plotting.plot_robustness(table_fig4(), dataset="Iris", params=PARAMS["fig4"]),
                                figs / "fig4_iris")[0]
    fig5 = plotting.save_figure(plotting.plot_staircase(table_fig5(), dataset="Iris"), figs / "fig5_iris")[0]
    csv = out / "tables" / "fig5_iris.csv"
    csv.parent.mkdir()
    csv.write_text("eps,delta\n0,0\n")
    sections = [
        {"name": "fig4", "title": "Figure 4: robustness near eps = 0",
         "text": "We check that delta < 1 & N_c = 0 for **small** `|eps|`.\n\n- one\n- two <b>not bold</b>",
         "table": table_fig4(), "csv": out / "tables" / "fig4_iris.csv", "figures": [marker, fig4],
         "params": {"gamma": 0.018, "robust_interval": [-0.3, 0.3]},
         "claims": [("N_c = 0 on an interval around 0", True, "[-0.3, 0.3]"),
                    ("jump to N_c = 6 with delta = 1128", False, "got <6>")]},
        {"name": "fig5", "title": "Figure 5: the staircase", "text": "Plain paragraph.",
         "table": table_fig5(), "csv": csv, "figures": [fig5], "params": {}, "claims": []},
        {"name": "settings", "title": "Settings and why", "text": SETTINGS_TEXT, "params": {}},
        {"name": "table1", "title": "Table 1", "text": "No figure here.", "table": table_table1(),
         "csv": None, "figures": [], "claims": [("runs", True, "")],
         "params": {"num": 321, "setups": {"iris": {"gamma": 0.018, "standardize": True}, "wine": {"gamma": 0.012}}}},
    ]
    meta = {"version": "0.1.0", "date": "2025-01-01", "command": "advcluster reproduce --out x",
            "machine": "test box", "total_time": 12.345, "table1": "iris  direct  -6.45  4974 <ok>"}
    md, html_path = write_report(sections, out, meta)
    return out, md, html_path, [marker, fig4, fig5]


def test_report_markdown(report):
    out, md, _, figures = report
    text = md.read_text()
    assert md == out / "report.md"
    for fig in figures:
        assert fig.relative_to(out).as_posix() in text
    assert "tables/fig5_iris.csv" in text
    assert "| Figure 4: robustness near eps = 0 | 2 | 1 | 1 |" in text and "| all | 3 | 2 | 1 |" in text
    assert "- [x] **PASS** N_c = 0 on an interval around 0" in text
    assert "- [ ] **FAIL** jump to N_c = 6" in text
    assert "first 15 of 41 rows" in text
    assert "12.3 s" in text and "advcluster reproduce --out x" in text
    assert "| \u2014 |" in text  # NaN paper numbers shown as a dash
    assert "| setups: iris | gamma: 0.018, standardize: True |" in text  # one row per data set
    assert "| robust_interval | [-0.3, 0.3] |" in text


def test_report_html_is_self_contained_and_escaped(report):
    out, _, html_path, figures = report
    page = html_path.read_text()
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)"', page)
    assert len(images) == len(figures)
    for (data, alt), fig in zip(images, figures):
        assert base64.b64decode(data) == fig.read_bytes()
        assert alt
    assert "<script" not in page.lower()
    assert not re.search(r'(src|href)="(https?:)?//', page), "no external resources"
    assert "delta &lt; 1 &amp; N_c" in page  # text escaped
    assert "<strong>small</strong>" in page and "<code>|eps|</code>" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page and "<li>one</li>" in page
    assert "got &lt;6&gt;" in page and "4974 &lt;ok&gt;" in page
    assert page.count('class="pass"') == 2 and page.count('class="fail"') == 1
    assert page.count("<tr>") >= 3 * 1 + MAX_ROWS
    # The CSV travels inside the page, as a download link: nothing refers to files beside it.
    link = re.search(r'<a download="fig5_iris.csv" href="data:text/csv;base64,([A-Za-z0-9+/=]+)">', page)
    assert link and base64.b64decode(link.group(1)) == (out / "tables" / "fig5_iris.csv").read_bytes()
    assert all(u.startswith("data:") for u in re.findall(r'(?:src|href)="([^"#][^"]*)"', page))


def test_report_renders_settings_markup(report):
    page = report[2].read_text()
    settings = page[page.index('<section id="settings">'):page.index("</section>", page.index('id="settings"'))]
    assert settings.count("<p>") == 2 and settings.count("<ul>") == 2 and settings.count("<li>") == 4
    assert "<code>eps</code>" in settings and "<code>gamma</code>" in settings and "<code>single</code>" in settings
    assert "<li>the feature is standardised (zero mean, unit variance), so one <code>eps</code> scale and one " \
           "<code>gamma</code> scale serve the three data sets" in settings
    assert "<li><strong>uniform weights</strong>: the problem" in settings
    assert "<code>a_b</code>" in settings
    text = re.sub(r"<[^>]+>", "", settings)
    for mark in ("`", "**", "\n- "):
        assert mark not in text, mark


def test_report_links_only_to_the_web_or_within_the_page(tmp_path):
    text = ("See [the paper](https://example.org/p), [settings](#settings), [the CSV](tables/x.csv) "
            "and [this](javascript:alert(1)).")
    _, html_path = write_report([{"name": "settings", "title": "Links", "text": text}], tmp_path, {})
    page = html_path.read_text()
    assert '<a href="https://example.org/p">the paper</a>' in page and '<a href="#settings">settings</a>' in page
    assert "the CSV (<code>tables/x.csv</code>)" in page and "this (<code>javascript:alert(1</code>))" in page
    assert not [u for u in re.findall(r'(?:src|href)="([^"]*)"', page) if not u.startswith(("https:", "#"))]


def test_missing_figure_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report([{"name": "x", "title": "x", "figures": [tmp_path / "nope.png"]}], tmp_path, {})


@pytest.mark.skipif(browser() is None, reason=f"no headless browser found (looked for {', '.join(BROWSERS)})")
def test_report_renders_in_headless_browser(report, tmp_path):
    _, _, html_path, _ = report
    base = command(tmp_path / "profile")
    url = html_path.resolve().as_uri()
    dom = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count("<img ") == 3
    shot = tmp_path / "shot.png"
    run = subprocess.run(base + ["--window-size=1100,3000", f"--screenshot={shot}", url],
                         capture_output=True, text=True, timeout=90)
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    pixels = pixels_of(shot)
    # The first figure is a magenta block: if it decoded, thousands of magenta pixels show.
    magenta = np.all(pixels == (255, 0, 255), axis=1).sum()
    assert magenta > 100_000, f"only {magenta} magenta pixels: the embedded PNG did not render"
    assert n_colours(pixels) > 100
    # As laid out: every table and preformatted block within the page's width (a 21-column
    # table among them), and no markup characters in the text a reader sees.
    measured = measure(html_path, tmp_path)
    assert len(measured["widths"]) >= 6 and measured["page"] > 500 and measured["images"] == 3
    assert max(measured["widths"]) <= measured["page"] + 1, measured
    text = measured["text"]
    assert "uniform weights: the problem" in text
    for mark in ("`", "**"):
        assert mark not in text, f"literal {mark!r} in the rendered text"
    assert not re.search(r"^\s*- ", text, re.M), "a list item rendered as a literal '- ' line"
