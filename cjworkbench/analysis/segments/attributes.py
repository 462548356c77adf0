"""Customer attributes as profile and clustering features: every key of `customers.attributes`
that holds numbers becomes `attribute_<key>` (NaN where missing or not a number), every key with
at most `MAX_CATEGORIES` distinct values becomes one 0/1 column per value (`attribute_<key>=<value>`).
Keys with more values (names, pseudonymised ids, free text) are left out: they describe no group.
"""

from __future__ import annotations

import ibis.expr.types as ir
import pandas as pd

from .breakdowns import NUMERIC_SHARE

ATTRIBUTE = "attribute_"
MAX_CATEGORIES = 12


def attribute_features(cust: ir.Table) -> pd.DataFrame:
    """One row per customer of `cust` (index `customer_id`), the attribute columns above."""
    d = cust.select("customer_id", "attributes").execute()
    index = pd.Index(d["customer_id"], name="customer_id")
    if d.empty:   # from_records of no rows would give a RangeIndex, which no customer_id joins
        return pd.DataFrame(index=index)
    wide = pd.DataFrame.from_records([a or {} for a in d["attributes"]], index=index)
    out = {}
    for key in sorted(wide.columns):
        text = wide[key].astype("string").str.strip()
        text = text.where(text != "")
        present = text.dropna()
        if present.empty:
            continue
        number = pd.to_numeric(present, errors="coerce")
        if number.notna().mean() >= NUMERIC_SHARE and number.nunique() > 2:
            out[ATTRIBUTE + key] = pd.to_numeric(text, errors="coerce").astype(float)
        elif present.nunique() <= MAX_CATEGORIES:
            for value in sorted(present.unique()):
                out[f"{ATTRIBUTE}{key}={value}"] = (text == value).fillna(False).astype(float)
    return pd.DataFrame(out, index=wide.index)
