"""What identity linkage changed: the same counts keyed by `customer_id` (each export's own key)
and by `person_id` (records joined by `cjworkbench.identity`), side by side.

`linkage_effect_table` answers "how many customers were really one person, how many journeys now
cross channels, and which hand-offs appear only once the silos are joined".
"""

from __future__ import annotations

import pandas as pd

from ..scope import as_filters, definition, scope
from .journeys.gaps import switch_matrix_table

MEASURES = {
    "n_units": "customers (before) / persons (after) with at least one event in scope",
    "n_multi_channel": "of them, with events in more than one channel",
    "n_switches": "channel switches inside one visit (30-minute session over every source)",
}


def linkage_effect_table(con, *, switch=("app", "phone"), filters=None) -> pd.DataFrame:
    """One row per measure: `before` (by customer_id), `after` (by person_id), `change`; the
    `switch` pair (default app -> phone, the hand-off the demo plants across identities) is
    counted on its own row. Needs the `persons` table (an `identity:` block at ingest)."""
    rows = {}
    for side in ("customer", "person"):
        f = scope(con, as_filters(filters)).with_filters(identity=side).filters
        ev = scope(con, f, unit="customer").events()
        per = ev.group_by("customer_id").aggregate(n_channels=ev.channel.nunique())
        counts = per.aggregate(n_units=per.count(), n_multi_channel=(per.n_channels > 1).sum()).execute().iloc[0]
        sw = switch_matrix_table(con, by="channel", unit="session", filters=f)
        pair = sw[(sw.from_value == switch[0]) & (sw.to_value == switch[1])].n_switches.sum()
        rows[side] = {"n_units": int(counts.n_units), "n_multi_channel": int(counts.n_multi_channel or 0),
                      "n_switches": int(sw.n_switches.sum()), f"n_{switch[0]}_{switch[1]}_switches": int(pair)}
    df = pd.DataFrame({"measure": list(rows["customer"]), "before": list(rows["customer"].values()),
                       "after": list(rows["person"].values())})
    df["change"] = df.after - df.before
    meaning = {**MEASURES, f"n_{switch[0]}_{switch[1]}_switches": f"{switch[0]} -> {switch[1]} switches inside one visit"}
    return definition(df, analysis="linkage effect", before="keyed by customer_id (each export's own key)",
                      after="keyed by person_id (cjworkbench.identity: shared keys, then the Fellegi-Sunter model)",
                      measures=meaning, filters=scope(con, filters).describe())
