"""What identity linkage changed: the same counts keyed by `customer_id` (each export's own key)
and by `person_id` (records joined by `cjworkbench.identity`), side by side.

`linkage_effect_table` answers "how many customers were really one person, how many journeys now
cross channels, and which hand-offs (and their gap) appear only once the silos are joined".
"""

from __future__ import annotations

import pandas as pd

from ..scope import as_filters, definition, scope
from .journeys.gaps import switch_gaps_table, switch_matrix_table

MEASURES = {
    "n_units": "customers (before) / persons (after) with at least one event in scope",
    "n_multi_channel": "of them, with events in more than one channel (journeys that cross channels)",
    "n_switches": "channel switches inside one visit (30-minute session over every source)",
}


def linkage_effect_table(con, *, switch: tuple[str, str] | None = None, outcome_activity: str | None = None,
                         filters=None) -> pd.DataFrame:
    """One row per measure: `before` (by customer_id), `after` (by person_id), `change`
    (after - before: customers merged are the negative change of `n_units`). The `switch` pair of
    channels (default: the pair whose switches grow most once identities are linked: the hand-off the
    silos hid) is counted on its own row; with `outcome_activity`, its gap too: the share of visits
    reaching it with the switch minus without (`switch_gaps_table`, by session; NaN where no visit
    switches). Needs the `persons` table (an `identity:` block at ingest)."""
    sides = {side: scope(con, as_filters(filters)).with_filters(identity=side).filters for side in ("customer", "person")}
    rows, matrices = {}, {}
    for side, f in sides.items():
        ev = scope(con, f, unit="customer").events()
        per = ev.group_by("customer_id").aggregate(n_channels=ev.channel.nunique())
        counts = per.aggregate(n_units=per.count(), n_multi_channel=(per.n_channels > 1).sum()).execute().iloc[0]
        matrices[side] = switch_matrix_table(con, by="channel", unit="session", filters=f)
        rows[side] = {"n_units": int(counts.n_units), "n_multi_channel": int(counts.n_multi_channel or 0),
                      "n_switches": int(matrices[side].n_switches.sum())}
    a, b = switch if switch is not None else _most_grown(matrices["customer"], matrices["person"])
    for side, f in sides.items() if a is not None else ():   # no switch on either side: no pair row
        sw = matrices[side]
        rows[side][f"n_{a}_{b}_switches"] = int(sw[(sw.from_value == a) & (sw.to_value == b)].n_switches.sum())
        if outcome_activity is not None:
            gap = switch_gaps_table(con, by="channel", switch=(a, b), outcome_activity=outcome_activity,
                                    unit="session", n_resamples=0, filters=f)
            rows[side][f"{a}_{b}_gap"] = float(gap.rate_diff.iloc[0]) if len(gap) else float("nan")
    df = pd.DataFrame({"measure": list(rows["customer"]), "before": list(rows["customer"].values()),
                       "after": list(rows["person"].values())})
    df["change"] = df.after - df.before
    meaning = {**MEASURES, f"n_{a}_{b}_switches": f"{a} -> {b} switches inside one visit",
               f"{a}_{b}_gap": f"share of visits reaching {outcome_activity} with an {a} -> {b} switch minus "
                               f"without (switch_gaps_table, unit session)"}
    return definition(df, analysis="linkage effect", before="keyed by customer_id (each export's own key)",
                      after="keyed by person_id (cjworkbench.identity: shared keys, then the Fellegi-Sunter model)",
                      switch=None if a is None else f"{a} -> {b}" + (" (named)" if switch else " (grew most with linkage)"),
                      measures={m: meaning[m] for m in df.measure}, filters=scope(con, filters).describe())


def _most_grown(before: pd.DataFrame, after: pd.DataFrame) -> tuple:
    """The (from, to) channel pair whose switch count grows most from `before` to `after`."""
    key = ["from_value", "to_value"]
    grown = after.groupby(key).n_switches.sum().sub(before.groupby(key).n_switches.sum(), fill_value=0)
    return tuple(grown.sort_values(ascending=False, kind="stable").index[0]) if len(grown) else (None, None)
