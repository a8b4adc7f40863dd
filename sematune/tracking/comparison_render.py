"""A :class:`SweepReport` as text: a rich table for the terminal, Markdown and HTML files."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Optional, Sequence

from sematune.tracking.description import run_page
from sematune.tracking.comparison_model import Cell, GeoMean, SweepReport, TokenTotals
from sematune.tracking.comparison_verdict import VerdictCell

DASH = "—"
PROBLEM_HEADER = ["target", "tuner", "seed", "status", "why", "run"]
VERDICT_HEADER = ["target", "tuner", "seed", "frozen", "stable windows", "default windows", "vs interleaved defaults",
                  "run"]


def fmt_num(value: Optional[float], digits: int = 4) -> str:
    return DASH if value is None else f"{value:.{digits}g}"


def fmt_pct(relative: Optional[float]) -> str:
    """A relative score as an improvement: 1.123 → ``+12.3%``."""
    return DASH if relative is None else f"{(relative - 1.0) * 100:+.1f}%"


def fmt_ci(low: Optional[float], high: Optional[float]) -> str:
    return DASH if low is None or high is None else f"[{fmt_pct(low)}, {fmt_pct(high)}]"


def _count(n: float) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k" if n >= 1e4 else f"{int(n)}"


def fmt_tokens(tokens: Optional[TokenTotals]) -> str:
    if tokens is None:
        return DASH
    return f"{_count(tokens.input)} in / {_count(tokens.output)} out / {_count(tokens.thinking)} think"


def fmt_cost(tokens: Optional[TokenTotals]) -> str:
    return DASH if tokens is None else f"${tokens.cost_usd:.4f}"


def _gain(gain: Optional[float]) -> Optional[float]:
    return None if gain is None else 1.0 + gain


def fmt_verdict(v: VerdictCell) -> str:
    """``+5.0% [+1.2%, +8.9%] significant`` (gain vs the interleaved defaults, CI, significance)."""
    if v.gain is None:
        return DASH
    ci = fmt_ci(_gain(v.ci_low), _gain(v.ci_high))
    return f"{fmt_pct(_gain(v.gain))} {ci}" + (" significant" if v.significant else "") + \
        (f" ({v.frozen})" if v.frozen else "")


def verdict_rows(report: SweepReport) -> list[list[str]]:
    """One row per counted run: its own verdict."""
    return [[r.target, r.arm, DASH if r.seed is None else str(r.seed), r.verdict.frozen or DASH,
             str(r.verdict.n_stable), str(r.verdict.n_defaults), fmt_verdict(r.verdict), r.run_id or r.run_dir or ""]
            for r in report.runs if r.counted]


def fmt_runs(cell: Cell) -> str:
    text = f"{cell.counted}/{cell.expected}"
    extra = [f"{n} {what}" for n, what in ((cell.failed, "failed"), (cell.missing, "missing")) if n]
    return text + (f" ({', '.join(extra)})" if extra else "")


def fmt_robustness(cell: Cell) -> tuple[str, str]:
    rob = cell.robustness
    if rob.worse_share is None:
        worse = DASH if not rob.failed else f"{rob.failed} failed"
    else:
        worse = f"{rob.worse_share:.0%} of {rob.scored}" + (f", {rob.failed} failed" if rob.failed else "")
    return worse, fmt_num(rob.spread, 3)


def table(report: SweepReport) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the comparison table (one row per target × arm, then geo-means)."""
    baseline = report.method.get("baseline_tuner", "fixed")
    pct = f"{report.method.get('threshold', 0.1):.0%}"
    conf = f"{report.method.get('confidence', 0.95):.0%}"
    header = ["target", "tuner", "runs ok", "stable mean", f"vs {baseline}", f"{conf} CI",
              f"vs interleaved defaults ({conf} CI)", f"tuning worse >{pct}", "spread"]
    if report.has_tokens:
        header += ["tokens", "cost"]
    rows: list[list[str]] = []
    for info in report.targets:
        for cell in (c for c in report.cells if c.target == info.target):
            worse, spread = fmt_robustness(cell)
            vs = "baseline" if cell.is_baseline and cell.relative is not None else fmt_pct(cell.relative)
            row = [info.target, cell.arm, fmt_runs(cell), fmt_num(cell.mean), vs, fmt_ci(cell.ci_low, cell.ci_high),
                   fmt_verdict(cell.verdict), worse, spread]
            if report.has_tokens:
                row += [fmt_tokens(cell.tokens), fmt_cost(cell.tokens)]
            rows.append(row)
    for geo in report.geomeans:
        row = ["geo-mean", geo.arm, _geo_cover(geo), DASH, fmt_pct(geo.relative), fmt_ci(geo.ci_low, geo.ci_high),
               "", "", ""]
        if report.has_tokens:
            row += ["", ""]
        rows.append(row)
    return header, rows


def _geo_cover(geo: GeoMean) -> str:
    total = len(geo.targets) + len(geo.missing_targets)
    return f"{len(geo.targets)}/{total} targets"


def objectives(report: SweepReport) -> str:
    return "; ".join(f"{t.target}: {t.metric} ({t.goal})" for t in report.targets)


def problem_runs(report: SweepReport) -> list[list[str]]:
    """Runs that do not count, with why."""
    return [[r.target, r.arm, DASH if r.seed is None else str(r.seed), r.status, r.note or "",
             r.run_id or r.run_dir or ""] for r in report.runs if not r.counted]


# -- terminal -------------------------------------------------------------------------------
#: Columns of the stable-phase table; the rest (tuning-phase robustness, tokens) go to a second
#: table when one table would not fit the width.
STABLE_COLUMNS = 6
LOG_WIDTH = 120


def _rich_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> object:
    from rich import box
    from rich.table import Table

    tab = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for name in header:
        left = name in ("target", "tuner", "tokens")
        tab.add_column(name, justify="left" if left else "right", overflow="fold")
    for row in rows:
        tab.add_row(*row, style="bold" if row[0] == "geo-mean" else None)
    return tab


def render_tables(report: SweepReport, width: int) -> list[object]:
    """The comparison as rich tables that fit ``width`` columns: one table when it fits, else the
    stable-phase comparison and the tuning-phase robustness (and tokens) apart. Nothing is cut:
    a cell too wide for its column folds onto the next line."""
    from rich.console import Console

    header, rows = table(report)
    baseline = report.method.get("baseline_tuner", "fixed")
    title = f"{report.title}: stable phase vs `{baseline}` ({objectives(report)})"
    whole = _rich_table(title, header, rows)
    probe = Console(width=10_000, file=io.StringIO(), color_system=None)
    if probe.measure(whole).maximum <= width:  # type: ignore[arg-type]
        return [whole]
    keys = [0, 1]
    rest = keys + list(range(STABLE_COLUMNS, len(header)))
    return [
        _rich_table(title, [header[i] for i in range(STABLE_COLUMNS)], [r[:STABLE_COLUMNS] for r in rows]),
        _rich_table("tuning phase", [header[i] for i in rest],
                    [[r[i] for i in rest] for r in rows if r[0] != "geo-mean"]),
    ]


def print_table(report: SweepReport, console: Optional[object] = None) -> None:
    """Print the comparison to ``console`` (default: stdout; 120 columns when that is a file or pipe)."""
    from rich.console import Console

    out: Any = console if console is not None else Console()
    if console is None and not out.is_terminal:
        out = Console(width=LOG_WIDTH)  # a log file or a pipe: as wide as a wide terminal, never cut
    for tab in render_tables(report, out.width):
        out.print(tab)
    for row in problem_runs(report):
        out.print(f"[yellow]not counted:[/] {row[0]} / {row[1]} seed {row[2]}: {row[3]} {row[4]}", overflow="fold")
    for note in report.notes:
        out.print(f"[yellow]note:[/] {note}", overflow="fold")


def table_text(report: SweepReport, width: int) -> str:
    """The comparison as plain text ``width`` columns wide (what :func:`print_table` shows)."""
    from rich.console import Console

    buffer = io.StringIO()
    print_table(report, Console(width=width, file=buffer, color_system=None, force_terminal=False))
    return buffer.getvalue()


# -- files ----------------------------------------------------------------------------------
def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, row)) + " |" for row in rows]
    return "\n".join(lines)


def _method_lines(report: SweepReport) -> list[str]:
    return [f"{k}: {v}" for k, v in report.method.items() if isinstance(v, str)]


def to_markdown(report: SweepReport, images: Sequence[tuple[str, str]]) -> str:
    """Markdown report; ``images`` are ``(title, file name)`` next to it."""
    header, rows = table(report)
    parts = [f"# {report.title}", "", f"Source: {report.source}" + (f" (MLflow parent run `{report.parent_run_id}`)"
                                                                     if report.parent_run_id else ""),
             "", f"Objectives: {objectives(report)}", "", _md_table(header, rows), ""]
    verdicts = verdict_rows(report)
    if verdicts:
        parts += ["## Verdict per run (frozen stable windows vs the defaults interleaved in the same run)", "",
                  _md_table(VERDICT_HEADER, verdicts), ""]
    problems = problem_runs(report)
    if problems:
        parts += ["## Runs not counted", "", _md_table(PROBLEM_HEADER, problems), ""]
    if report.notes:
        parts += ["## Notes", "", *[f"- {n}" for n in report.notes], ""]
    parts += ["## Plots", ""]
    for title, name in images:
        parts += [f"### {title}", "", f"[![{title}]({name})]({name})", ""]
    parts += ["## Method", "", *[f"- {line}" for line in _method_lines(report)], ""]
    return "\n".join(parts)


def sweep_description(report: SweepReport, images: Sequence[tuple[str, str]], *, experiment_id: str, run_id: str,
                      folder: str = "report") -> str:
    """The sweep parent run's Markdown note: the comparison table and links to its plots and report."""
    header, rows = table(report)
    link = lambda name: run_page(experiment_id, run_id, f"artifacts/{folder}/{name}")  # noqa: E731
    parts = [f"### {report.title}", "",
             f"Stable phase vs `{report.method.get('baseline_tuner', 'fixed')}` ({objectives(report)}); "
             f"95% CI by bootstrap over seeds.", "", _md_table(header, rows), ""]
    problems = problem_runs(report)
    if problems:
        parts += [f"{len(problems)} run(s) not counted (failed, missing or without a stable window): "
                  "see the report.", ""]
    parts += [*[f"- [{title}]({link(name)})" for title, name in images],
              f"- [Full report (report.html)]({link('report.html')})", ""]
    return "\n".join(parts)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr" + (' class="geo"' if row and row[0] == "geo-mean" else "") + ">"
        + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,td:nth-child(2),th{text-align:left}tr.geo{font-weight:bold;background:#f4f4f4}
img{max-width:100%;border:1px solid #ddd}.note{color:#a60}"""


def to_html(report: SweepReport, images: Sequence[tuple[str, str]], folder: Path) -> str:
    """A self-contained HTML report (images inlined, each linking to its PNG next to it)."""
    header, rows = table(report)
    esc = html.escape
    src = esc(report.source) + (f" (MLflow parent run <code>{esc(report.parent_run_id)}</code>)"
                                if report.parent_run_id else "")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(report.title)}</title>"
             f"<style>{_CSS}</style></head><body>", f"<h1>{esc(report.title)}</h1>",
             f"<p>Source: {src}</p>", f"<p>Objectives: {esc(objectives(report))}</p>", _html_table(header, rows)]
    verdicts = verdict_rows(report)
    if verdicts:
        parts += ["<h2>Verdict per run (frozen stable windows vs the defaults interleaved in the same run)</h2>",
                  _html_table(VERDICT_HEADER, verdicts)]
    problems = problem_runs(report)
    if problems:
        parts += ["<h2>Runs not counted</h2>", _html_table(PROBLEM_HEADER, problems)]
    if report.notes:
        parts += ["<h2>Notes</h2><ul>", *[f"<li class='note'>{esc(n)}</li>" for n in report.notes], "</ul>"]
    parts.append("<h2>Plots</h2>")
    for title, name in images:
        data = base64.b64encode((folder / name).read_bytes()).decode()
        parts.append(f"<h3>{esc(title)}</h3><a href='{esc(name)}'><img alt='{esc(title)}' "
                     f"src='data:image/png;base64,{data}'></a>")
    parts += ["<h2>Method</h2><ul>", *[f"<li>{esc(line)}</li>" for line in _method_lines(report)], "</ul>",
              "</body></html>"]
    return "\n".join(parts)
