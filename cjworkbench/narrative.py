"""What changed, in words: a row's values in the units of its metric, and a few summary sentences
(the words beside the `changes_table` chart and in report headlines)."""

from __future__ import annotations

import pandas as pd

from .formats import period_name

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


# ---- the headline band (`analysis.headline.headline_table`): one sentence and the figures beside it
ARROWS = {"better": "▲", "worse": "▼"}


def figure_value(kind: str, value) -> str:
    """A headline figure in the units a person reads (`formats`): 61.5 %, −22.3 pts, 3.2 days, 7.9."""
    from . import formats

    if kind == "score":
        return formats.MISSING if formats.is_missing(value) else f"{float(value):.1f}"
    return formats.value_text(value, kind)


def _change(kind: str, change) -> str:
    """The size of a change, unsigned: '1.7 points', '7.8 points', '2.5 hours'."""
    from . import formats

    if kind in ("share", "points"):
        return f"{abs(change) * 100:.1f} points"
    if kind == "score":
        return f"{abs(change):.1f} points"
    return formats.duration(abs(change)) if kind == "duration" else figure_value(kind, abs(change))


def _significance(r) -> str:
    from . import formats

    if r["p_value"] != r["p_value"]:
        return ""
    sig = r["verdict"] in ("better", "worse") or (not r["verdict"] and r["p_value"] < 0.05)
    word = "significant" if sig else "not significant"
    p = formats.p_value(r["p_value"])
    return f" ({word}, p {p if p.startswith('<') else '= ' + p})"


def figure_sentence(r) -> str:
    """One figure in words: 'Conversion fell 1.7 points to 76.3 % in March 2026 (significant, p < 0.001)'."""
    value = figure_value(r["kind"], r["value"])
    if r["change"] == r["change"] and r["change"] != 0:
        moved = "rose" if r["change"] > 0 else "fell"
        when = f" in {period_name(r['period'])}" if r["period"] else ""
        return f"{r['label']} {moved} {_change(r['kind'], r['change'])} to {value}{when}{_significance(r)}"
    if r["change"] == 0:
        return f"{r['label']} held at {value}{_significance(r)}"
    return f"{r['label']}: {value}{_significance(r)}"


def headline_sentence(table: pd.DataFrame) -> str:
    """The headline in one or two sentences: the figure that moved (significantly) first, with its
    detail, then the next figure; a page with no figure says why."""
    shown = table[table["available"].astype(bool)]
    if shown.empty:
        reasons = [r for r in table["reason"] if r]
        return "No headline figure can be computed for this selection" + (f": {reasons[0]}" if reasons else ".")
    order = shown.assign(_moved=~shown["verdict"].isin(("better", "worse"))).sort_values("_moved", kind="stable")
    lead = order.iloc[0]
    text = figure_sentence(lead) + (f"; {lead['detail']}" if lead["detail"] else "") + "."
    if len(order) > 1:
        text += " " + figure_sentence(order.iloc[1]) + "."
    return text[0].upper() + text[1:]


def headline_html(table: pd.DataFrame) -> str:
    """The headline band: the sentence, one card per figure (value; change against the previous period
    coloured by better / worse; p-value), the figures left out with why, and the method one click away."""
    import html

    from . import formats

    from .charts.theme import VERDICT   # here, not at import: charts.changes imports this module
    from .display import method_html

    esc = html.escape
    cards = []
    for _, r in table[table["available"].astype(bool)].iterrows():
        colour = VERDICT.get(r["verdict"] or "", "#666666")   # the one palette of every page
        if r["change"] == r["change"]:
            vs = f"{ARROWS.get(r['verdict'], '')} {'+' if r['change'] > 0 else '−' if r['change'] < 0 else ''}" \
                 f"{_change(r['kind'], r['change'])} vs {figure_value(r['kind'], r['previous'])}"
        else:
            vs = {"better": "better than the comparison", "worse": "worse than the comparison"}.get(r["verdict"], "")
        p_text = formats.p_value(r["p_value"])
        p = (f" · p {p_text if p_text.startswith('<') else '= ' + p_text}" if r["p_value"] == r["p_value"] else "")
        cards.append(
            f'<div class="cjw-figure" style="flex:1 1 11em;min-width:0;max-width:22em;border-left:4px solid {colour};'
            f'padding:4px 10px;overflow-wrap:anywhere">'
            f'<div style="color:#555;font-size:0.85em">{esc(r["label"])}</div>'
            f'<div style="font-size:1.5em;font-weight:600">{esc(figure_value(r["kind"], r["value"]))}</div>'
            f'<div style="color:{colour};font-size:0.85em">{esc(vs.strip())}{esc(p)}</div>'
            + (f'<div style="color:#777;font-size:0.8em">{esc(r["detail"])}</div>' if r["detail"] else "")
            + "</div>")
    left_out = [f"{r['label']}: {r['reason']}" for _, r in table.iterrows() if not r["available"]]
    d = table.attrs.get("definition", {})
    method = [d.get("period_rule", ""), d.get("verdict_rule", ""),
              "Figures come from: " + ", ".join(sorted({s for s in table["source"] if s})) + "."]
    return ('<div class="cjw-headline" style="box-sizing:border-box;max-width:100%;padding:8px 12px;margin:4px 0 12px;'
            'background:#f6f8fa;border-radius:6px">'
            '<p class="cjw-headline-sentence" style="font-size:1.1em;margin:0 0 8px">'
            f'{esc(headline_sentence(table))}</p><div style="display:flex;flex-wrap:wrap;gap:8px">{"".join(cards)}</div>'
            + "".join(f'<p style="color:#777;font-size:0.8em;margin:6px 0 0">Not shown — {esc(t)}</p>'
                      for t in left_out)
            + method_html([], method) + "</div>")


HEADLINE_MIME = "application/vnd.cjw.headline+json"   # the headline's figures beside its HTML in a report


def headline_record(table: pd.DataFrame) -> dict:
    """The headline as plain JSON (what a report's index summarises): the sentence and, per figure, its
    words, value text and verdict, or why it is left out."""
    figures = [{"figure": r["figure"], "label": r["label"], "available": bool(r["available"]),
                "text": figure_value(r["kind"], r["value"]) if r["available"] else "",
                "sentence": (figure_sentence(r) + (f"; {r['detail']}" if r["detail"] else "") + ".")
                if r["available"] else "", "verdict": r["verdict"] or "", "reason": r["reason"]}
               for _, r in table.iterrows()]
    return {"page": table.attrs.get("definition", {}).get("page", ""), "sentence": headline_sentence(table),
            "figures": figures}
