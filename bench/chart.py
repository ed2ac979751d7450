#!/usr/bin/env python3
"""Draw bench/run's ratios.csv as a PNG: pgiris / PgBouncer and
pgiris / PostgreSQL per case, costs on the left (below 1: pgiris spends
less), throughput on the right (above 1: pgiris is faster).

    chart.py ratios.csv ratios.png "title"

Runs in bench/.venv (matplotlib); bench/run calls it.
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import ticker  # noqa: E402


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def panel(ax, rows, title):
    labels = [f"{r['group']}: {r['case']}" for r in rows]
    ys = range(len(rows))
    h = 0.38
    for offset, col, name, color in ((-h / 2, "pgiris_over_pgbouncer", "pgiris / PgBouncer", "#1f77b4"),
                                     (h / 2, "pgiris_over_postgres", "pgiris / PostgreSQL", "#ff7f0e")):
        vals = [number(r[col]) for r in rows]
        # Bars grow from 1 (parity) towards the ratio, either way.
        ax.barh([y + offset for y, v in zip(ys, vals) if v], [v - 1 for v in vals if v], left=1,
                height=h, color=color, label=name)
        for y, v in zip(ys, vals):
            if v:
                ax.text(v, y + offset, f" {v:.2g}", va="center", fontsize=6)
    ax.axvline(1, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.02 - 0.3 / max(len(rows), 1)), ncol=2)
    ax.grid(axis="x", which="both", alpha=0.3)


def main():
    src, dst, title = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
    with open(src) as f:
        rows = list(csv.DictReader(f))
    costs = [r for r in rows if r["better"] == "lower"]
    speeds = [r for r in rows if r["better"] == "higher"]
    n = max(len(costs), len(speeds), 1)
    fig, axes = plt.subplots(1, 2, figsize=(15, 1.2 + 0.24 * n))
    panel(axes[0], costs, "cost ratio (log scale): below 1 = pgiris cheaper")
    panel(axes[1], speeds, "throughput ratio (log scale): above 1 = pgiris faster")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    main()
