"""What changed, in words: a row's values in the units of its metric, and a few summary sentences
(the words beside the `changes_table` chart and in report headlines)."""

from __future__ import annotations

import pandas as pd

RATES = ("conversion", "share", "top_box_rate", "low_effort_rate")


def change_text(row) -> str:
    """'78.0 % → 76.3 % (−1.7 points, −3.1 to −0.2)': a row's values in the units of its metric."""
    if row["metric"] in RATES:
        value, diff = (lambda v: f"{100 * v:.1f} %"), (lambda v: f"{100 * v:+.1f}")
        unit = " points"
    elif row["metric"] == "median_seconds":
        value = diff = _seconds
        unit = ""
    else:
        value, diff, unit = (lambda v: f"{v:.2f}"), (lambda v: f"{v:+.2f}"), ""
        if row["metric"] == "nps":
            value, diff, unit = (lambda v: f"{v:.1f}"), (lambda v: f"{v:+.1f}"), " points"
    bounds = f", {diff(row['low'])} to {diff(row['high'])}" if row["low"] == row["low"] else ""
    return f"{value(row['previous'])} → {value(row['current'])} ({diff(row['change'])}{unit}{bounds})"


def _seconds(v) -> str:
    sign = "-" if v < 0 else ""
    v = abs(v)
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if v >= size:
            return f"{sign}{v / size:.1f} {unit}"
    return f"{sign}{v:.0f} s"


def changes_summary(table: pd.DataFrame, *, top: int = 3) -> str:
    """A few sentences on the table: how many changes are significant and the largest of them."""
    d = table.attrs.get("definition", {})
    level = d.get("level", 0.95)
    sig = table[table["significant"]]
    names = {k: f"{v['label']} ({k.replace('_', ' ')})" for k, v in d.get("baselines", {}).items()}
    head = (f"{d.get('current', {}).get('label', 'This period')} against "
            f"{' and '.join(names.values()) or 'its baseline'}: {len(sig)} of {len(table)} compared figures "
            f"changed significantly (Benjamini-Hochberg q ≤ {1 - level:.2f}).")
    lines = [head]
    for _, r in sig.head(top).iterrows():
        worse = (r["better"] == "higher") == (r["change"] < 0) if r["better"] in ("higher", "lower") else None
        verdict = "" if worse is None else (" — worse" if worse else " — better")
        lines.append(f"- {r['area']} · {r['item']} · {r['metric'].replace('_', ' ')} vs "
                     f"{names.get(r['baseline'], r['baseline'])}: {change_text(r)}{verdict}.")
    if sig.empty:
        lines.append("No change stands out from chance variation at this sample size.")
    return "\n".join(lines)
