"""The figures of each page's headline, read from the tables the page's charts show (`FIGURES[page]`):
the measures pages here, the journey, persona, design and action pages in `journey_pages`.

Each function takes (con, filters, k_min, options) and returns figure rows (`headline.figure` /
`headline.missing`); `options` are the page's own options, passed unchanged to the same tables.
"""

from __future__ import annotations

import dataclasses
import math

import pandas as pd

from ...errors import EmptyScopeError
from ...formats import duration, period_name, share
from ...scope import Filters
from . import attempt, figure, kept, missing, name_of, pick, table_result, windows, within

UNIT_KIND = {"%": "share", "seconds": "duration", "score": "score", "count": "number", "money": "money"}
RATE_METRICS = ("conversion", "share", "top_box_rate", "low_effort_rate")
Z95 = 1.959963984540054


def overview(con, filters, k_min, options):
    """The KPIs that moved most against the previous period (smallest p-values of `scorecard_table`), and
    the worst hotspot (most hours lost, `hotspots_table`). `top` goes to the hotspots, the rest to the scorecard."""
    from ..journeys.transitions import hotspots_table
    from ..measures import scorecard_table

    def hotspot():
        h = kept(table_result(con, hotspots_table, filters, **pick(options, "top")), k_min, "n_journeys")
        if h.empty:
            return [missing("worst_hotspot", "Worst hotspot", f"No activity is done in {k_min} or more journeys.",
                            source="hotspots_table")]
        r = h.loc[h["hours_lost"].idxmax()]
        what = {"activity": "after", "transition": "between", "rework": "repeating"}.get(r["kind"], "at")
        return [figure("worst_hotspot", f"Hours lost {what} {name_of(con, r['name'])}", r["hours_lost"], kind="count",
                       detail=f"median {duration(r['median_seconds'])} in {int(r['n_journeys']):,} journeys",
                       source="hotspots_table")]

    def build():
        sc = table_result(con, scorecard_table, filters, **{k: v for k, v in options.items() if k != "top"})
        ok = sc[sc["available"].astype(bool) & sc["p_value"].notna() & (sc["n_customers"] >= k_min)]
        if ok.empty:
            reasons = [r for r in sc.loc[~sc["available"].astype(bool), "reason"] if r][:1]
            return [missing("top_mover", "KPI that moved most", "No KPI could be compared with the previous period"
                            + (f" ({reasons[0]})." if reasons else "."), source="scorecard_table")]
        top = ok.assign(_size=ok["change"].abs()).sort_values(["p_value", "kpi"]).head(3)
        return [figure(f"kpi:{r.kpi}", r.label, r.estimate, kind=UNIT_KIND.get(r.unit, "number"), previous=r.previous,
                       change=r.change, low=r.change_low, high=r.change_high, p_value=r.p_value, better=r.direction,
                       period=str(r.period), source="scorecard_table") for r in top.itertuples()]

    return (attempt("top_mover", "KPI that moved most", build, source="scorecard_table")
            + attempt("worst_hotspot", "Worst hotspot", hotspot, source="hotspots_table"))


def _metric_kind(metric: str) -> str:
    return "share" if metric in RATE_METRICS else "duration" if metric == "median_seconds" else \
        "score" if metric == "nps" else "number"


def what_changed(con, filters, k_min, options):
    """The most certain significant change of `changes_table`, and how many figures changed."""
    from ..changes.changes import changes_table

    def build():
        ch = table_result(con, changes_table, filters, **options)
        d = ch.attrs.get("definition", {})
        label = d.get("current", {}).get("label", "")
        sig = ch[ch["significant"].astype(bool)]
        count = figure("n_significant", "Figures that changed significantly", len(sig), kind="count",
                       detail=f"of {len(ch)} compared (Benjamini-Hochberg corrected)", period=label,
                       source="changes_table")
        if ch.empty:
            return [missing("largest_change", "Largest significant change", "No figure has enough journeys or "
                            "answers in both periods to compare (`min_n`).", source="changes_table")]
        if sig.empty:
            return [missing("largest_change", "Largest significant change",
                            f"None of the {len(ch)} compared figures changed more than chance variation allows.",
                            source="changes_table"), count]
        r = sig.iloc[0]
        better = r["better"] if r["better"] in ("higher", "lower") else None
        what = f"{r['area']} · {name_of(con, r['item'])} · {str(r['metric']).replace('_', ' ')}"
        return [figure("largest_change", what,
                       r["current"], kind=_metric_kind(r["metric"]), previous=r["previous"], change=r["change"],
                       low=r["low"], high=r["high"], p_value=r["q_value"], better=better,
                       detail=f"against the {str(r['baseline']).replace('_', ' ')} period", period=label,
                       source="changes_table"), count]

    return attempt("largest_change", "Largest significant change", build, source="changes_table")


def funnels_and_gaps(con, filters, k_min, options):
    """The funnel's conversion this period against the previous one, and the largest hand-off gap."""
    from ..journeys.funnels import funnel_table
    from ..journeys.gaps import switch_gaps_table
    from ..stats import newcombe_interval, two_proportion_p_value

    def conversion():
        cur, prev = windows(con, filters)
        opts = pick(options, "steps", "window", "unit")
        if len(opts.get("steps") or ()) < 2:
            return [missing("conversion", "Funnel conversion", "The database names no funnel and has no common path "
                            "to follow (set `steps`, or a `funnels:` design).", source="funnel_table")]
        try:
            now, before = (table_result(con, funnel_table, within(filters, w), **opts) for w in (cur, prev))
        except EmptyScopeError:
            return [missing("conversion", "Funnel conversion", f"No journeys in {period_name(cur.label)} or "
                            f"{period_name(prev.label)} to compare (business dates {prev.start} to {cur.end}).",
                            source="funnel_table")]
        (n1, x1), (n0, x0) = ((int(t["n_entered"].iloc[0]), int(t["n_entered"].iloc[-1])) for t in (now, before))
        if min(n1, n0) < k_min:
            return [missing("conversion", "Funnel conversion", f"Fewer than {k_min} entered the funnel in "
                            f"{cur.label} or {prev.label}.", source="funnel_table")]
        diff = newcombe_interval(x1, n1, x0, n0)
        steps = now.iloc[1:]
        worst = steps.loc[steps["conversion_from_previous"].idxmin()]
        first, last = (name_of(con, now["label"].iloc[i]) for i in (0, -1))
        return [figure("conversion", f"Conversion {first} → {last}", x1 / n1,
                       kind="share", previous=x0 / n0, change=diff.estimate, low=diff.low, high=diff.high,
                       p_value=two_proportion_p_value(x1, n1, x0, n0), better="higher",
                       detail=f"the biggest drop is on the way to {name_of(con, worst['label'])} "
                              f"({share(worst['conversion_from_previous'])} "
                              f"continue)", period=cur.label, source="funnel_table")]

    def gap():
        opts = pick(options, "by", "unit", "n_resamples", "outcome_activity")
        g = kept(table_result(con, switch_gaps_table, filters, **opts), k_min, "n_with")
        g = g[~g["small_sample"].astype(bool) & (g["rate_diff_high"] < 0)] if not g.empty else g
        if g.empty:
            return [missing("handoff_gap", "Biggest hand-off gap", "No channel switch lowers the share reaching "
                            f"{opts.get('outcome_activity') or 'the goal'} beyond chance.", source="switch_gaps_table")]
        r = g.loc[g["rate_diff"].idxmin()]
        return [figure("handoff_gap", f"Hand-off {name_of(con, r['from_value'])} → {name_of(con, r['to_value'])}",
                       r["rate_diff"], kind="points",
                       low=r["rate_diff_low"], high=r["rate_diff_high"], p_value=r["p_value"], better="higher",
                       difference=True, detail=f"{share(r['rate_with'])} reach "
                       f"{name_of(con, opts.get('outcome_activity'))} after "
                       f"the switch, {share(r['rate_without'])} without it", source="switch_gaps_table")]

    return (attempt("conversion", "Funnel conversion", conversion, source="funnel_table")
            + attempt("handoff_gap", "Biggest hand-off gap", gap, source="switch_gaps_table"))


def voc(con, filters, k_min, options):
    """The score of the last period with answers up to the end date against the period before (whatever the
    start date), its trend over the last six, and the theme that lowers it most."""
    from ..voc.scores import scores_table
    from ..voc.theme_impact import theme_impact_table

    from ...designs.defaults import instruments_present

    if not options.get("instrument"):   # as the page's instrument option: the first the database has
        options = {**options, "instrument": (instruments_present(con) or [None])[0]}
    instrument = options["instrument"]

    def score():
        if instrument is None:
            return [missing("score", "Score", "No scored answers in this database (NPS, CSAT, CES or review "
                            "stars).", source="scores_table")]
        history = dataclasses.replace(filters or Filters(), start_date=None)   # earlier periods: the trend
        s = table_result(con, scores_table, history, **pick(options, "instrument"), by="period",
                   **pick(options, "period"))
        s = kept(s, k_min, "n_answers").sort_values("period")
        if s.empty:
            return [missing("score", "Score", f"No period has {k_min} or more answers.", source="scores_table")]
        now = s.iloc[-1]
        name = str(now["measure"]).replace("_", " ")
        kind = "score" if now["measure"] == "nps" else "share"
        trend = ", ".join(_value(v, kind) for v in s["estimate"].tail(6))
        label = f"{str(instrument or now['instrument']).upper()} ({name})" if name != "nps" else "NPS"
        period = pd.Timestamp(now["period"]).strftime("%B %Y")
        if len(s) < 2:
            return [figure("score", label, now["estimate"], kind=kind, better="higher", period=period,
                           detail="one period with answers: no trend yet", source="scores_table")]
        before = s.iloc[-2]
        se = math.hypot(*((r["high"] - r["low"]) / (2 * Z95) for r in (now, before)))
        change = now["estimate"] - before["estimate"]
        from ..stats import _dist

        p = float(2 * _dist().norm.sf(abs(change) / se)) if se > 0 else math.nan
        return [figure("score", label, now["estimate"], kind=kind, previous=before["estimate"], change=change,
                       low=change - Z95 * se, high=change + Z95 * se, p_value=p, better="higher", period=period,
                       detail=f"last {min(len(s), 6)} periods: {trend}", source="scores_table")]

    def theme():
        if options.get("taxonomy") is None:
            return [missing("worst_theme", "Worst theme", "The database carries no themes design (add `themes:` "
                            "under `designs:` in the config).", source="theme_impact_table")]
        t = kept(table_result(con, theme_impact_table, filters, **pick(options, "taxonomy", "instrument")), k_min,
                  "n_theme")
        t = t[t["high"] < 0] if not t.empty else t
        if t.empty:
            return [missing("worst_theme", "Worst theme", "No theme lowers the score beyond chance.",
                            source="theme_impact_table")]
        r = t.loc[t["impact"].idxmin()]
        return [figure("worst_theme", f"Worst theme: {name_of(con, r['theme'])}", r["impact"], kind="score",
                       low=r["low"],
                       high=r["high"], p_value=r["p_value"], better="higher", difference=True,
                       detail=f"mentioned in {share(r['theme_rate'])} of answers", source="theme_impact_table")]

    return (attempt("score", "Score", score, source="scores_table")
            + attempt("worst_theme", "Worst theme", theme, source="theme_impact_table"))


def _value(v, kind: str) -> str:
    from ...formats import value_text

    return f"{v:.0f}" if kind == "score" else value_text(v, kind)


from .journey_pages import actions, designed_vs_actual, journey_explorer, personas_and_segments  # noqa: E402

FIGURES = {"overview": overview, "what_changed": what_changed, "funnels_and_gaps": funnels_and_gaps, "voc": voc,
           "personas_and_segments": personas_and_segments, "journey_explorer": journey_explorer,
           "designed_vs_actual": designed_vs_actual, "actions": actions}
