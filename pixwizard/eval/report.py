"""Writing an evaluation: ``results.json``, ``report.md`` (tables) and ``report.html`` (plots and grids).

The HTML page is one self-contained file (images inlined as PNG data). Its plots need matplotlib, from the
``eval`` extra (``pip install 'pixwizard[eval]'``); without it the page says so and keeps the tables and
example grids.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from pixwizard.eval.harness import NOTES, Report
from pixwizard.eval.scoring import LOWER_IS_BETTER, METRIC_NOTES
from pixwizard.tasks.results import atomic_write_bytes, png_bytes

GRID_SCALE = 3


def _systems(report: Report) -> list[str]:
    order = []
    for row in report.rows:
        if row.system not in order:
            order.append(row.system)
    head = [s for s in (report.model, "identity") if s in order]
    tail = [s for s in ("oracle",) if s in order]
    return head + [s for s in order if s not in head + tail] + tail


def _table(report: Report) -> tuple[list[str], list[list[str]]]:
    """Rows per (task, phrasing, metric): the model (with its 95% interval), identity, baseline, oracle."""
    cells: dict[tuple, dict[str, float]] = defaultdict(dict)
    bounds: dict[tuple, str] = {}
    for row in report.rows:
        cells[(row.task, row.phrasing, row.metric)][row.system] = row.value
        if row.system == report.model and row.low is not None:
            bounds[(row.task, row.phrasing, row.metric)] = f" [{row.low:.3f}, {row.high:.3f}]"
    fixed = (report.model, "identity", "oracle")
    header = ["task", "phrasing", "metric", report.model, "identity", "baseline", "oracle"]
    body = []
    for (task, phrasing, metric), values in cells.items():
        arrow = "↓" if metric in LOWER_IS_BETTER else "↑"
        others = [f"{name} {value:.3f}" for name, value in values.items() if name not in fixed]
        body.append(
            [
                task,
                phrasing,
                f"{metric} {arrow}",
                f"{values[report.model]:.3f}{bounds.get((task, phrasing, metric), '')}"
                if report.model in values
                else "–",
                f"{values['identity']:.3f}" if "identity" in values else "–",
                ", ".join(others) or "–",
                f"{values['oracle']:.3f}" if "oracle" in values else "–",
            ]
        )
    return header, body


def markdown_table(report: Report) -> str:
    """The results as one Markdown table (systems as columns)."""
    header, body = _table(report)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """``report.md``: what was run, the table, and what the metrics mean."""
    parts = [
        f"# PixWorld evaluation of `{report.model}`",
        "",
        f"world_version {report.world_version}, n = {report.n} per task, seed {report.seed}, "
        f"steps {report.steps or 'task default'}.",
        "",
        markdown_table(report),
        "",
        "## Notes",
        "",
        *(f"- {note}" for note in NOTES),
        "",
        "## Metrics",
        "",
        *(f"- `{name}`: {text}" for name, text in METRIC_NOTES.items()),
        "",
    ]
    return "\n".join(parts)


def _png_data(image: np.ndarray | Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode()


def example_grid(examples: dict[str, np.ndarray]) -> Image.Image:
    """Input | target | model | best baseline, side by side (enlarged, nearest neighbour)."""
    names = [k for k in ("input", "target", "model", "baseline") if k in examples]
    height = max(examples[k].shape[0] for k in names) * GRID_SCALE
    width = sum(examples[k].shape[1] * GRID_SCALE + 4 for k in names)
    grid = Image.new("RGB", (width, height), "white")
    x = 0
    for name in names:
        array = examples[name]
        image = Image.fromarray(array).resize(
            (array.shape[1] * GRID_SCALE, array.shape[0] * GRID_SCALE), Image.Resampling.NEAREST
        )
        grid.paste(image, (x, 0))
        x += image.width + 4
    return grid


def _plots(report: Report) -> dict[str, str]:
    """One bar chart per family (every metric of its tasks, systems side by side), as PNG data URLs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = _systems(report)
    by_family: dict[str, dict[tuple[str, str], dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in report.rows:
        if row.phrasing == report.rows[0].phrasing:
            by_family[row.family][(row.task, row.metric)][row.system] = row.value
    plots = {}
    for family, groups in by_family.items():
        keys = list(groups)
        fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(keys) * len(systems) / 3), 3.2))
        width = 0.8 / len(systems)
        for j, system in enumerate(systems):
            values = [groups[k].get(system, np.nan) for k in keys]
            ax.bar(np.arange(len(keys)) + j * width, values, width, label=system)
        ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2)
        ax.set_xticklabels([f"{t}\n{m}" for t, m in keys], rotation=60, ha="right", fontsize=7)
        ax.set_title(family)
        ax.legend(fontsize=7)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=90)
        plt.close(fig)
        plots[family] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return plots


def html_page(report: Report) -> str:
    """``report.html``: plots per family, the table, and one example grid per task."""
    header, body = _table(report)
    try:
        plots = _plots(report)
        plot_html = "".join(
            f'<h3>{html.escape(f)}</h3><img src="{src}" alt="{html.escape(f)}">' for f, src in plots.items()
        )
    except ImportError:
        plot_html = "<p>Plots need matplotlib: <code>pip install 'pixwizard[eval]'</code>.</p>"
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
    grids = "".join(
        f"<h3>{html.escape(task)} <small>(input | target | {html.escape(report.model)} | "
        f"{html.escape(report.best_baseline.get(task, 'baseline'))})</small></h3>"
        f'<img src="{_png_data(example_grid(examples))}" alt="{html.escape(task)}">'
        for task, examples in report.examples.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in NOTES)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>PixWorld evaluation of {html.escape(report.model)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{image-rendering:pixelated}</style>"
        f"</head><body><h1>PixWorld evaluation of {html.escape(report.model)}</h1>"
        f"<p>world_version {html.escape(report.world_version)}, n = {report.n} per task, "
        f"seed {report.seed}.</p>"
        f"<ul>{notes}</ul><h2>Plots</h2>{plot_html}<h2>Results</h2><table><tr>"
        + "".join(f"<th>{html.escape(h)}</th>" for h in header)
        + f"</tr>{rows}</table><h2>Examples</h2>{grids}</body></html>"
    )


def write_report(report: Report, out: str | Path) -> Path:
    """Write ``results.json``, ``report.md`` and ``report.html`` into ``out`` (created), atomically."""
    out = Path(out)
    atomic_write_bytes(out / "results.json", (json.dumps(report.to_json(), indent=1) + "\n").encode())
    atomic_write_bytes(out / "report.md", markdown(report).encode())
    atomic_write_bytes(out / "report.html", html_page(report).encode())
    return out
