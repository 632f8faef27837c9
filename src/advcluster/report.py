"""The reproduction report: one Markdown file and one self-contained HTML file.

:func:`write_report` turns a list of experiment sections (text, parameters, claims checked,
a table, figures) into ``report.md``, which refers to the figures and CSVs by relative path,
and ``report.html``, which embeds the figures as base64 PNGs and carries its own CSS: it opens
anywhere, offline, with no external resource and no JavaScript. Only the standard library is
used here.

A section is a dict or any object with these fields (all but ``name`` optional):

``name``      short identifier, used as the HTML anchor (``"fig4"``)
``title``     heading
``text``      paragraphs separated by blank lines; ``**bold**``, code in single or double
              backticks, and ``- `` lists (an item continues on indented lines)
``params``    dict, rendered as a two-column table
``claims``    list of ``(statement, passed, detail)``, rendered as a PASS/FAIL checklist
``table``     mapping column -> values; the first :data:`MAX_ROWS` rows are rendered
``columns``   the columns of ``table`` to show (default: all; the CSV has them all)
``csv``       path of the full table: linked from report.md, embedded in report.html as a
              download (up to :data:`MAX_EMBED` bytes), so the page works when shared alone
``figures``   list of PNG paths (or ``(path, alt text)`` pairs)

``meta`` is a dict; the keys ``version, date, command, machine, total_time`` (seconds, or
text) fill the header table, ``table1`` (the terminal rendering of Table 1) is shown as
preformatted text, ``title`` replaces the report's title, and any other key is listed too.
"""

from __future__ import annotations

import base64
import html
import math
import os
import re
from collections.abc import Mapping
from numbers import Integral, Real
from pathlib import Path

from .io import atomic_write

__all__ = ["MAX_ROWS", "write_report"]

MAX_ROWS = 15
"""Rows of each table shown in the report (the CSV holds them all)."""

WIDE = 10
"""Tables with more columns than this are set in a smaller font, to fit the page (above 16
columns their headers may also break inside a word)."""

MAX_EMBED = 2 << 20
"""Largest CSV embedded in report.html (bytes); a larger one is named, not embedded."""

_DEFAULT_TITLE = "advcluster reproduce: Section 6 of Zheng & Li (2025)"
_META_LABELS = {
    "version": "advcluster version",
    "date": "date",
    "command": "command",
    "machine": "machine",
    "total_time": "total time",
}
_META_ALIASES = {"total time": "total_time", "time": "total_time"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222;
       max-width: 62rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.5; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.3rem; margin-top: 2.5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
h3 { font-size: 1.05rem; margin-bottom: .3rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
code { background: #f3f3f3; padding: 0 .2em; border-radius: 3px; }
pre { background: #f6f6f6; border: 1px solid #ddd; padding: .6rem; font-size: .7rem; white-space: pre-wrap; }
table { border-collapse: collapse; margin: .4rem 0 1rem; font-size: .8rem; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .15rem .4rem; text-align: right; }
td.text { overflow-wrap: anywhere; min-width: 4em; }
table.wide { font-size: .7rem; }
table.wide th, table.wide td { padding: .1rem .25rem; }
table.widest th { overflow-wrap: anywhere; }
th { background: #eee; }
td.text, th.text { text-align: left; }
table.meta td, table.meta th { text-align: left; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: .85rem; color: #555; }
ul.claims { list-style: none; padding-left: 0; }
ul.claims li { margin: .25rem 0; }
.badge { display: inline-block; min-width: 3.2em; text-align: center; font-weight: bold;
         font-size: .8rem; border-radius: 3px; padding: 0 .3em; margin-right: .4em; color: #fff; }
.pass .badge { background: #2e7d32; }
.fail .badge { background: #b00020; }
.detail { color: #555; font-size: .9em; }
nav ul { columns: 2; }
"""


# ----------------------------------------------------------------------------- values


def _field(section, key, default=None):
    if isinstance(section, Mapping):
        value = section.get(key, default)
    else:
        value = getattr(section, key, default)
    return default if value is None else value


def _format_value(value) -> str:
    """A cell: integers as integers, floats to 6 significant digits, NaN as an em dash."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        x = float(value)
        if math.isnan(x):
            return "\u2014"
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.6g}"
    if isinstance(value, (list, tuple)) or (hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1):
        return "[" + ", ".join(_format_value(v) for v in list(value)) + "]"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items())
    if isinstance(value, Path):
        return value.as_posix()
    return str(value)


def _is_number(value) -> bool:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    return isinstance(value, Real) and not isinstance(value, bool)


def _param_rows(params: Mapping) -> list[list[str]]:
    """Two-column rows; a dict of dicts (e.g. one setting per data set) gives a row per entry."""
    rows = []
    for key, value in params.items():
        if isinstance(value, Mapping) and value and all(isinstance(v, Mapping) for v in value.values()):
            rows += [[f"{key}: {sub}", _format_value(v)] for sub, v in value.items()]
        else:
            rows.append([str(key), _format_value(value)])
    return rows


def _shown_columns(section) -> dict[str, list]:
    """The section's table, limited to its ``columns`` when given."""
    columns = _as_columns(_field(section, "table"))
    shown = _field(section, "columns")
    if shown:
        missing = [c for c in shown if c not in columns]
        if missing:
            raise ValueError(f"columns {missing} of section {_field(section, 'name', '')!r} are not in its table.")
        columns = {c: columns[c] for c in shown}
    return columns


def _as_columns(table) -> dict[str, list]:
    if table is None:
        return {}
    if hasattr(table, "to_dict") and not isinstance(table, Mapping):  # a pandas DataFrame
        table = table.to_dict(orient="list")
    columns = {str(k): list(v) for k, v in table.items()}
    lengths = {k: len(v) for k, v in columns.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"table columns differ in length: {lengths}.")
    return columns


def _claims(section) -> list[tuple[str, bool, str]]:
    out = []
    for claim in _field(section, "claims", []):
        if isinstance(claim, Mapping):
            statement, passed, detail = claim.get("statement", ""), claim.get("passed"), claim.get("detail", "")
        elif isinstance(claim, (tuple, list)):
            statement, passed, detail = (list(claim) + [""])[:3]
        else:
            statement, passed, detail = (getattr(claim, "statement", str(claim)), getattr(claim, "passed", False),
                                         getattr(claim, "detail", ""))
        out.append((str(statement), bool(passed), "" if detail is None else str(detail)))
    return out


def _figures(section) -> list[tuple[Path, str]]:
    title = str(_field(section, "title", _field(section, "name", "figure")))
    out = []
    for k, fig in enumerate(_field(section, "figures", []), 1):
        path, alt = (fig if isinstance(fig, (tuple, list)) else (fig, None))
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"figure {path} of section {title!r} does not exist; save it before the report.")
        out.append((path, alt or f"{title}, figure {k} ({path.name})"))
    return out


def _relative(path: Path, out_dir: Path) -> str:
    return Path(os.path.relpath(Path(path).resolve(), out_dir.resolve())).as_posix()


def _meta_items(meta: Mapping) -> list[tuple[str, str]]:
    norm = {}
    for key, value in (meta or {}).items():
        norm[_META_ALIASES.get(key, key)] = value
    items = []
    for key, label in _META_LABELS.items():
        if key in norm:
            value = norm[key]
            if key == "total_time" and _is_number(value):
                value = f"{float(value):.1f} s"
            items.append((label, _format_value(value)))
    for key, value in norm.items():
        if key not in _META_LABELS and key not in ("table1", "title"):
            items.append((str(key), _format_value(value)))
    return items


# ----------------------------------------------------------------------------- markdown


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _table_rows(columns: dict[str, list]) -> tuple[list[str], list[list[str]], int]:
    header = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    rows = [[_format_value(columns[c][i]) for c in header] for i in range(min(n, MAX_ROWS))]
    return header, rows, n


def _markdown(sections, out_dir: Path, meta: Mapping) -> str:
    title = str((meta or {}).get("title", _DEFAULT_TITLE))
    parts = [f"# {title}", ""]
    items = _meta_items(meta)
    if items:
        parts += [_md_table(["", ""], [[f"**{k}**", v] for k, v in items]), ""]
    summary = _summary(sections)
    if summary:
        parts += ["## Summary", "", _md_table(_SUMMARY_HEADER, summary), ""]
    if (meta or {}).get("table1"):
        parts += ["## Table 1 (terminal)", "", "```text", str(meta["table1"]).rstrip("\n"), "```", ""]
    for section in sections:
        name = str(_field(section, "name", ""))
        parts += [f'<a id="{html.escape(name)}"></a>', "", f"## {_field(section, 'title', name)}", ""]
        text = str(_field(section, "text", "")).strip()
        if text:
            parts += [text, ""]
        claims = _claims(section)
        if claims:
            parts += ["### Claims checked", ""]
            for statement, passed, detail in claims:
                mark, word = ("x", "PASS") if passed else (" ", "FAIL")
                parts.append(f"- [{mark}] **{word}** {statement}" + (f" ({detail})" if detail else ""))
            parts.append("")
        for path, alt in _figures(section):
            parts += [f"![{alt}]({_relative(path, out_dir)})", ""]
        params = _field(section, "params", {})
        if params:
            parts += ["### Parameters", "", _md_table(["parameter", "value"], _param_rows(params)), ""]
        columns = _shown_columns(section)
        csv = _field(section, "csv")
        if columns:
            header, rows, n = _table_rows(columns)
            shown = f"first {len(rows)} of {n} rows" if n > len(rows) else f"{n} rows"
            link = f"; the full table: [{Path(csv).name}]({_relative(Path(csv), out_dir)})" if csv else ""
            parts += [f"### Table ({shown}{link})", "", _md_table(header, rows), ""]
        elif csv:
            parts += [f"Table: [{Path(csv).name}]({_relative(Path(csv), out_dir)})", ""]
    return "\n".join(parts).rstrip("\n") + "\n"


_SUMMARY_HEADER = ["section", "claims checked", "hold", "fail"]


def _summary(sections) -> list[list[str]]:
    """One row per section with claims, then the totals."""
    rows, total, held = [], 0, 0
    for section in sections:
        claims = _claims(section)
        if claims:
            passed = sum(p for _, p, _ in claims)
            title = str(_field(section, "title", _field(section, "name", "")))
            rows.append([title, str(len(claims)), str(passed), str(len(claims) - passed)])
            total, held = total + len(claims), held + passed
    return rows + [["all", str(total), str(held), str(total - held)]] if rows else []


# ----------------------------------------------------------------------------- HTML

_CODE = re.compile(r"``(.+?)``|`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_WEB = re.compile(r"(https?:|mailto:|#)", re.I)
_ITEM = re.compile(r"^\s*[-*] ")


def _inline(text: str) -> str:
    """Escape ``text`` for HTML, then render code (in single or double backticks),
    ``**bold**``, ``*italic*`` and links (web and in-page ones; a link to a file beside the
    report, which travels alone, shows its path instead)."""
    pieces, end = [], 0
    for m in _CODE.finditer(text):
        pieces.append(_prose(text[end:m.start()]))
        pieces.append(f"<code>{html.escape(m.group(1) or m.group(2))}</code>")
        end = m.end()
    pieces.append(_prose(text[end:]))
    return "".join(pieces)


def _prose(chunk: str) -> str:
    chunk = html.escape(chunk)
    chunk = _BOLD.sub(r"<strong>\1</strong>", chunk)
    chunk = _ITALIC.sub(r"<em>\1</em>", chunk)
    return _LINK.sub(lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>' if _WEB.match(m.group(2))
                     else f"{m.group(1)} (<code>{m.group(2)}</code>)", chunk)


def _paragraphs(text: str) -> str:
    """Blank-line separated blocks. In a block, lines up to the first ``- `` item are a
    paragraph; each item runs on over the lines that follow it until the next item."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lead, items = [], []
        for line in block.splitlines():
            if _ITEM.match(line):
                items.append([_ITEM.sub("", line, count=1).strip()])
            elif line.strip():
                (items[-1] if items else lead).append(line.strip())
        if lead:
            out.append(f"<p>{_inline(' '.join(lead))}</p>")
        if items:
            out.append("<ul>" + "".join(f"<li>{_inline(' '.join(item))}</li>" for item in items) + "</ul>")
    return "\n".join(out)


def _html_table(header: list[str], rows: list[list[str]], cls: str = "", raw: bool = False) -> str:
    def cell(tag, value):
        text_cls = "" if _looks_numeric(value) else ' class="text"'
        return f"<{tag}{text_cls}>{value if raw else html.escape(value)}</{tag}>"

    def head_cell(name):  # long names may break after an underscore
        text_cls = "" if _looks_numeric(name) else ' class="text"'
        return f"<th{text_cls}>{html.escape(name).replace('_', '_<wbr>')}</th>"

    head = "<tr>" + "".join(head_cell(h) for h in header) + "</tr>"
    body = "".join("<tr>" + "".join(cell("td", c) for c in row) + "</tr>" for row in rows)
    cls = " ".join(c for c in (cls, "wide" if len(header) > WIDE else "",
                                "widest" if len(header) > 16 else "") if c)
    cls_attr = f' class="{cls}"' if cls else ""
    return f"<table{cls_attr}><thead>{head}</thead><tbody>{body}</tbody></table>"


def _looks_numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?(\d[\d.]*(e[-+]?\d+)?|\.\d+|inf|nan|\u2014)", text.strip(), re.I))


def _csv_link(csv) -> str:
    """A download link that carries the CSV itself (the page may be shared alone)."""
    path = Path(csv)
    name = html.escape(path.name)
    if not path.is_file() or path.stat().st_size > MAX_EMBED:
        return f"<code>{name}</code> (next to the report)"
    return f'<a download="{name}" href="{_data_uri(path)}">{name}</a>'


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
            ".csv": "text/csv"}
    kind = mime.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _png_size(path: Path):
    data = path.read_bytes()[:24]
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def _html(sections, out_dir: Path, meta: Mapping) -> str:
    esc = html.escape
    title = str((meta or {}).get("title", _DEFAULT_TITLE))
    body = [f"<h1>{esc(title)}</h1>"]
    items = _meta_items(meta)
    if items:
        body.append('<table class="meta"><tbody>' + "".join(
            f'<tr><th class="text">{esc(k)}</th><td class="text">'
            + (f"<code>{esc(v)}</code>" if k == "command" else esc(v)) + "</td></tr>" for k, v in items) + "</tbody></table>")
    if sections:
        body.append("<nav><h3>Contents</h3><ul>" + "".join(
            f'<li><a href="#{esc(str(_field(s, "name", "")))}">'
            f'{esc(str(_field(s, "title", _field(s, "name", ""))))}</a></li>' for s in sections) + "</ul></nav>")
    summary = _summary(sections)
    if summary:
        body += ["<h2>Summary</h2>", _html_table(_SUMMARY_HEADER, summary)]
    if (meta or {}).get("table1"):
        body += ["<h2>Table 1 (terminal)</h2>", f"<pre>{esc(str(meta['table1']).rstrip())}</pre>"]
    for section in sections:
        name = str(_field(section, "name", ""))
        body.append(f'<section id="{esc(name)}">')
        body.append(f"<h2>{esc(str(_field(section, 'title', name)))}</h2>")
        text = str(_field(section, "text", "")).strip()
        if text:
            body.append(_paragraphs(text))
        claims = _claims(section)
        if claims:
            body.append("<h3>Claims checked</h3><ul class=\"claims\">")
            for statement, passed, detail in claims:
                cls, word = ("pass", "PASS") if passed else ("fail", "FAIL")
                extra = f' <span class="detail">({_inline(detail)})</span>' if detail else ""
                body.append(f'<li class="{cls}"><span class="badge">{word}</span>{_inline(statement)}{extra}</li>')
            body.append("</ul>")
        for path, alt in _figures(section):
            size = _png_size(path)
            dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
            body.append(f'<figure><img src="{_data_uri(path)}" alt="{esc(alt)}"{dims}>'
                        f"<figcaption>{esc(alt)}</figcaption></figure>")
        params = _field(section, "params", {})
        if params:
            body += ["<h3>Parameters</h3>",
                     _html_table(["parameter", "value"], _param_rows(params))]
        columns = _shown_columns(section)
        csv = _field(section, "csv")
        link = _csv_link(csv) if csv else ""
        if columns:
            header, rows, n = _table_rows(columns)
            shown = f"first {len(rows)} of {n} rows" if n > len(rows) else f"{n} rows"
            body.append(f"<h3>Table ({shown}{'; the full table: ' + link if link else ''})</h3>")
            body.append(_html_table(header, rows))
        elif link:
            body.append(f"<p>Table: {link}</p>")
        body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


# ----------------------------------------------------------------------------- entry point


def write_report(sections, out_dir, meta=None) -> tuple[Path, Path]:
    """Write ``report.md`` and a self-contained ``report.html`` into ``out_dir``.

    Parameters
    ----------
    sections : list of dict or objects
        One per experiment; fields ``name, title, text, params, claims, table, csv,
        figures`` (see the module docstring).
    out_dir : path
        Created if missing. ``report.md`` links figures and CSVs relative to it, so keep
        them inside (or move the folder as a whole).
    meta : dict, optional
        ``version, date, command, machine, total_time, table1`` and anything else to list.

    Returns
    -------
    (md_path, html_path)

    Raises
    ------
    FileNotFoundError
        A figure listed in a section does not exist.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = list(sections)
    meta = dict(meta or {})
    md_text = _markdown(sections, out_dir, meta)
    html_text = _html(sections, out_dir, meta)
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    for path, text in ((md_path, md_text), (html_path, html_text)):
        with atomic_write(path, encoding="utf-8") as fh:
            fh.write(text)
    return md_path, html_path
