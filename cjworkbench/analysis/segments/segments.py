"""Segments from fact data: persona profiles, behavioural clusters, and how the two overlap.

Per-customer journey features are computed in Ibis over the (filtered) canonical tables:
`n_journeys`, `n_events`, `n_purchases` (events with a non-NULL amount), `revenue`,
`recency_days` / `tenure_days` (days from the last / first event to the latest event in the
data), the share of purchases per channel, of journeys per device (a journey's device is its
first non-NULL device) and the journeys per touchpoint (journeys with an event there). Personas
(`personas.py`) are compared on them with the shared intervals; clusters are scikit-learn
KMeans on the standardised features (counts as log1p).
"""

from __future__ import annotations

import ibis
import numpy as np
import pandas as pd

from ...privacy import suppress_small
from ...scope import definition, epoch, scope
from ..design.kpis import nps_points
from ...designs.personas import load_personas, persona_of
from .attributes import ATTRIBUTE, attribute_features
from ..stats import newcombe_interval, two_proportion_p_value, welch_interval, welch_p_value, wilson_interval

COUNTS = ("n_journeys", "n_events", "n_purchases", "revenue")
DAY = 86_400


def _long_features(con, filters, as_of):
    """(customer_id, feature, value) rows; one execute builds every customer's profile."""
    ev = scope(con, filters).events()
    end = ibis.timestamp(as_of) if as_of is not None else con.table("events").event_ts.max().as_scalar()
    buy = ev.amount.notnull()
    per = ev.group_by("customer_id").aggregate(
        n_journeys=ev.journey_key.nunique(), n_events=ev.count(), n_purchases=ev.count(where=buy),
        revenue=ev.amount.sum(where=buy), first_ts=ev.event_ts.min(), last_ts=ev.event_ts.max())
    per = per.mutate(recency_days=(epoch(end) - epoch(per.last_ts)) / DAY,
                     tenure_days=(epoch(end) - epoch(per.first_ts)) / DAY)
    parts = [per.select("customer_id", feature=ibis.literal(c), value=per[c].cast("float64").fill_null(0))
             for c in (*COUNTS, "recency_days", "tenure_days")]
    b = ev.filter(buy)
    b = b.group_by(["customer_id", b.channel.fill_null("(none)").name("v")]).aggregate(value=b.count())
    parts.append(b.select("customer_id", feature="purchases_channel=" + b.v, value=b.value.cast("float64")))
    w = ibis.window(group_by=["customer_id", "journey_key"], order_by=["event_ts", "seq"])
    dv = ev.filter(ev.device.notnull())
    dv = dv.mutate(k=ibis.row_number().over(w))
    dv = dv.filter(dv.k == 0)
    dv = dv.group_by(["customer_id", "device"]).aggregate(value=dv.count())
    parts.append(dv.select("customer_id", feature="journeys_device=" + dv.device, value=dv.value.cast("float64")))
    tp = ev.filter(ev.touchpoint.notnull())
    tp = tp.group_by(["customer_id", "touchpoint"]).aggregate(value=tp.journey_key.nunique())
    parts.append(tp.select("customer_id", feature="journeys_touchpoint=" + tp.touchpoint,
                           value=tp.value.cast("float64")))
    parts.append(_scores(con, filters))
    return ibis.union(*[t.select(customer_id=t.customer_id.cast(_S), feature=t.feature.cast(_S), value=t.value)
                        for t in parts])


_S = ibis.dtype("string")


def _scores(con, filters):
    """Per customer and instrument: the mean score of the answers in scope (FEEDBACK_RULE; nps coded
    100 / 0 / -100: the mean is an NPS)."""
    fb = scope(con, filters).feedback(["nps", "csat", "ces"], scored=True)
    y = ibis.cases((fb.instrument == "nps", nps_points(fb.score)), else_=fb.score.cast("float64"))
    g = fb.mutate(y=y).group_by(["customer_id", "instrument"]).aggregate(value=ibis._.y.mean())
    return g.select("customer_id", feature="score=" + g.instrument, value=g.value)


def customer_features(con, *, filters=None, as_of=None, personas=None) -> pd.DataFrame:
    """One row per customer (index `customer_id`): the journey features above, counts as raw
    numbers, shares as `purchase_share_<channel>` / `journey_share_<device>`, `score_<instrument>`
    (NaN without answers), and `persona` when `personas` is given. Customers without events have
    zero counts and NaN recency / tenure."""
    cust = scope(con, filters).customers()
    base = cust.select("customer_id") if personas is None else \
        cust.select("customer_id").join(persona_of(con, personas), "customer_id")
    long = _long_features(con, filters, as_of).semi_join(cust.select("customer_id"), "customer_id")
    base_df, attrs, long_df = base.execute(), attribute_features(cust), long.execute()
    # pandas cannot join an empty string-keyed frame (ArrowInvalid): no customers, just the columns
    base_df = base_df.join(attrs, on="customer_id") if len(base_df) and len(attrs.columns) else \
        base_df.reindex(columns=[*base_df.columns, *attrs.columns])
    wide = long_df.pivot_table(index="customer_id", columns="feature", values="value", aggfunc="first")
    df = base_df.set_index("customer_id").join(wide, how="left").sort_index()
    # no event in scope (an empty period): no feature rows to pivot, yet every profile column exists
    df = df.reindex(columns=df.columns.union([*COUNTS, "recency_days", "tenure_days"], sort=False))
    counts = [c for c in df.columns if c in COUNTS or "=" in c and not c.startswith("score=")]
    df[counts] = df[counts].fillna(0)
    no_events = df["n_events"] == 0
    df.loc[no_events, ["recency_days", "tenure_days"]] = np.nan
    for c in [c for c in df.columns if c.startswith("purchases_channel=")]:
        df["purchase_share_" + c.split("=", 1)[1]] = (df[c] / df["n_purchases"]).where(df["n_purchases"] > 0, 0.0)
    n_dev = df[[c for c in df.columns if c.startswith("journeys_device=")]].sum(axis=1)
    for c in [c for c in df.columns if c.startswith("journeys_device=")]:
        df["journey_share_" + c.split("=", 1)[1]] = (df[c] / n_dev).where(n_dev > 0, 0.0)
    df.columns = [c.replace("score=", "score_") for c in df.columns]
    # ids with events in scope but no customers row (guest checkouts, phone-keyed calls before linkage):
    # nothing to profile them on, so they are left out, and counted so the page can say so
    df.attrs["without_customer_row"] = int(scope(con, filters).events().select("customer_id").distinct()
                                           .anti_join(cust.select("customer_id"), "customer_id").count().execute())
    return df


def personas_table(con, *, personas, filters=None, as_of=None, level: float = 0.95) -> pd.DataFrame:
    """Each persona's profile against all other customers, one row per (persona, measure, category):
    customers (share of all), purchases by channel (unit: purchase), journeys by device (unit:
    journey) with Wilson intervals and Newcombe differences; journeys, purchases and revenue per
    customer and mean scores (unit: customer) with Welch intervals."""
    p = load_personas(personas)
    df = customer_features(con, filters=filters, as_of=as_of, personas=p)
    rows = []
    for name in p.names:
        me, rest = df[df.persona == name], df[df.persona != name]
        rows.append(_share_row(name, len(me), "customers", "(all)", "customer", len(me), len(df), None, None, level))
        for prefix, total, measure, unit in (("purchases_channel=", "n_purchases", "purchase channel", "purchase"),
                                             ("journeys_device=", None, "journey device", "journey")):
            cols = [c for c in df.columns if c.startswith(prefix)]
            tot_me = me[total].sum() if total else me[cols].to_numpy().sum()
            tot_rest = rest[total].sum() if total else rest[cols].to_numpy().sum()
            for c in cols:
                rows.append(_share_row(name, len(me), measure, c.split("=", 1)[1], unit, int(me[c].sum()),
                                       int(tot_me), int(rest[c].sum()), int(tot_rest), level))
        journey = ("n_journeys", "n_purchases", "revenue") if df["n_events"].any() else ()
        for c in (*journey, *[c for c in df.columns if c.startswith("score_")]):
            rows.append(_mean_row(name, len(me), c, me[c].dropna(), rest[c].dropna(), level))
        rows += _attribute_rows(name, me, rest, level)
    out = suppress_small(pd.DataFrame(rows, columns=ROW), count="n_customers", blank=False)   # SMALL_GROUP_RULE
    if not df["n_events"].any():
        out.attrs["missing"] = "no events for these customers: journey, purchase and device measures are left out"
    return definition(out, analysis="personas", personas=p.describe(), comparison="each persona vs all other "
                      "customers (rest_*): shares with Wilson intervals, differences Newcombe with a two-proportion "
                      "z test; means per customer with Welch intervals and test", level=level,
                      features=__doc__.split("\n\n")[1].replace("\n", " "), filters=scope(con, filters).describe(),
                      missing=out.attrs.get("missing"))


ROW = ["persona", "n_customers", "measure", "category", "unit", "n_units", "value", "low", "high", "rest_n_units",
       "rest_value", "difference", "difference_low", "difference_high", "p_value"]  # n_units: counted in `unit`


def _share_row(persona, n_customers, measure, category, unit, x, n, x2, n2, level) -> dict:
    v = wilson_interval(x, n, level=level)
    if x2 is None:
        d, p, rest = (np.nan,) * 3, np.nan, (np.nan, np.nan)
    else:
        d, p = newcombe_interval(x, n, x2, n2, level=level), two_proportion_p_value(x, n, x2, n2)
        rest = (n2, x2 / n2 if n2 else np.nan)
    return dict(zip(ROW, [persona, n_customers, measure, category, unit, n, *v, *rest, *d, p]))


def _mean_row(persona, n_customers, column, a, b, level) -> dict:
    m = a.mean() if len(a) else np.nan
    half = float(_scipy_stats().t.ppf(0.5 + level / 2, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a))) if len(a) > 1 else np.nan
    d = welch_interval(a, b, level=level)
    measure = column.replace("score_", "score ") if column.startswith("score_") else column.replace("n_", "") + \
        " per customer"
    return dict(zip(ROW, [persona, n_customers, measure, "(mean)", "customer", len(a), m, m - half, m + half, len(b),
                          b.mean() if len(b) else np.nan, *d, welch_p_value(a, b)]))


def _matrix(df: pd.DataFrame) -> pd.DataFrame:
    """The clustering inputs: customers with events, counts as log1p, shares and days as they are; when
    no customer in scope has an event, every customer on its attributes (numbers, missing ones at the
    median; categories as 0/1)."""
    if not (df["n_events"] > 0).any():
        x = df[[c for c in df.columns if c.startswith(ATTRIBUTE)]]
        return x.fillna(x.median()).astype(float)
    df = df[df["n_events"] > 0]
    cols = [c for c in df.columns if c in COUNTS or c.startswith("journeys_touchpoint=")]
    x = np.log1p(df[cols]).rename(columns=lambda c: "log1p_" + c)
    shares = [c for c in df.columns if c.startswith(("purchase_share_", "journey_share_"))]
    return pd.concat([x, df[["recency_days", "tenure_days", *shares]]], axis=1)


def cluster_labels(con, *, k: int = 4, seed: int = 0, filters=None, as_of=None, personas=None):
    """(customer features, their clustering matrix, cluster label per customer with events):
    KMeans (k clusters, `seed`, 10 starts) on standardised features, clusters numbered by size."""
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler

    if not isinstance(k, int) or isinstance(k, bool) or k < 2:
        from ...scope import FilterError

        raise FilterError(f"k must be a whole number of clusters of at least 2, got {k!r}.")
    df = customer_features(con, filters=filters, as_of=as_of, personas=personas)
    x = _matrix(df)
    if len(x) < k or x.shape[1] == 0:
        from ...scope import FilterError

        if x.shape[1] == 0 and len(df):   # customers, but nothing known about them (no customers: the filters)
            raise FilterError(f"The {len(df):,} customers in scope have no events and no attributes to cluster on: "
                              f"load their events, or a customers export with attributes (numbers or categories).")
        raise FilterError(f"Clustering into {k} groups needs at least {k} customers with events in scope; the "
                          f"filters leave {len(x)}. Widen the period or the filters, or choose fewer clusters.")
    z = StandardScaler().fit_transform(x.to_numpy(float))
    raw = KMeans(n_clusters=k, random_state=seed, n_init=10).fit_predict(z)
    order = {c: i for i, c in enumerate(pd.Series(raw).value_counts(sort=True).index)}
    return df, x, pd.Series([order[c] for c in raw], index=x.index, name="cluster")


def clusters_table(con, *, k: int = 4, seed: int = 0, filters=None, as_of=None) -> pd.DataFrame:
    """One row per behavioural cluster: size, share, the features that set it apart most
    (`profile`: standardised mean distance, top 3) and the mean of every input feature."""
    df, x, label = cluster_labels(con, k=k, seed=seed, filters=filters, as_of=as_of)
    z = (x - x.mean()) / x.std(ddof=0).replace(0, 1)
    means, zm = x.groupby(label).mean(), z.groupby(label).mean()
    out = pd.DataFrame({"cluster": means.index, "n_customers": label.value_counts().sort_index().to_numpy()})
    out["share"] = out.n_customers / out.n_customers.sum()
    out["profile"] = [", ".join(f"{c} {v:+.1f} sd" for c, v in zm.loc[i].reindex(zm.loc[i].abs().sort_values(
        ascending=False).index)[:3].items()) for i in means.index]
    out["description"] = [describe_cluster(zm.loc[i]) for i in means.index]
    out = suppress_small(pd.concat([out, means.reset_index(drop=True)], axis=1), count="n_customers", blank=False)
    return definition(out, analysis="clusters", k=k, seed=seed, algorithm="scikit-learn KMeans, 10 starts, on "
                      "standardised features (StandardScaler); clusters numbered by size", features=list(x.columns),
                      customers=_clustered(df), left_out=_left_out(df), filters=scope(con, filters).describe())


def persona_clusters_table(con, *, personas, k: int = 4, seed: int = 0, filters=None, as_of=None) -> pd.DataFrame:
    """How designed personas and behavioural clusters overlap: one row per (persona, cluster) with
    counts and shares both ways; `best` marks each persona's main cluster, whose share is the
    persona's fit (the rest its misfit). attrs["summary"] holds the adjusted Rand index."""
    from sklearn.metrics import adjusted_rand_score

    df, _, label = cluster_labels(con, k=k, seed=seed, filters=filters, as_of=as_of, personas=personas)   # _: features
    persona = df.loc[label.index, "persona"]
    tab = pd.crosstab(persona, label)
    long = tab.stack().rename("n_customers").reset_index()
    long["share_of_persona"] = long.n_customers / long.groupby("persona").n_customers.transform("sum")
    long["share_of_cluster"] = long.n_customers / long.groupby("cluster").n_customers.transform("sum")
    long["best"] = long.share_of_persona == long.groupby("persona").share_of_persona.transform("max")
    x = _.loc[label.index]
    zm = ((x - x.mean()) / x.std(ddof=0).replace(0, 1)).groupby(label).mean()
    long["description"] = long["cluster"].map({i: describe_cluster(zm.loc[i]) for i in zm.index})
    fit = long[long.best].drop_duplicates("persona").set_index("persona")
    ari = float(adjusted_rand_score(persona, label))
    long.attrs["summary"] = {"adjusted_rand_index": ari, "fit": fit.share_of_persona.to_dict(),
                             "best_cluster": fit.cluster.to_dict()}
    return definition(long, analysis="personas vs clusters", k=k, seed=seed, personas=load_personas(personas).describe(),
                      fit="share of a persona's customers in its best cluster; misfit = 1 - fit", left_out=_left_out(df),
                      adjusted_rand_index="agreement of the two partitions beyond chance (1 = identical, about 0 = "
                      "unrelated)", filters=scope(con, filters).describe())


def describe_cluster(z: pd.Series, *, top: int = 2, min_sd: float = 0.5) -> str:
    """A cluster in words from the features that set it apart most (its mean standardised distance from
    all customers, at least `min_sd`): "Many journeys, mostly app purchases"; "Close to the average
    customer" when none does."""
    words = []
    for name, v in z.reindex(z.abs().sort_values(ascending=False).index).items():
        if len(words) == top or abs(v) < min_sd:
            break
        words.append(_feature_words(str(name), v > 0))
    text = ", ".join(words) or "close to the average customer"
    return text[0].upper() + text[1:]


def _feature_words(name: str, high: bool) -> str:
    base = name.removeprefix("log1p_").removeprefix("attribute_")
    if base == "recency_days":
        return "long inactive" if high else "recently active"
    if base == "tenure_days":
        return "long-standing customers" if high else "new customers"
    for prefix, what in (("purchase_share_", "purchases"), ("journey_share_", "journeys")):
        if base.startswith(prefix):
            return f"{'mostly' if high else 'few'} {base[len(prefix):].replace('_', ' ')} {what}"
    if base.startswith("journeys_touchpoint="):
        return f"{'many' if high else 'few'} journeys at {base.split('=', 1)[1]}"
    words = base.removeprefix("n_").replace("_", " ").replace("=", " ")
    return f"{'high' if high else 'low'} {words}" if base == "revenue" or "=" in base else \
        f"{'many' if high else 'few'} {words}"


def _attribute_rows(persona, me: pd.DataFrame, rest: pd.DataFrame, level) -> list[dict]:
    """A persona against the rest on each customer attribute: shares of a category's values, means of a number."""
    rows = []
    for c in [c for c in me.columns if c.startswith(ATTRIBUTE)]:
        if "=" in c:
            key, value = c[len(ATTRIBUTE):].split("=", 1)
            rows.append(_share_row(persona, len(me), f"attribute {key}", value, "customer", int(me[c].sum()),
                                   len(me), int(rest[c].sum()), len(rest), level))
        else:
            row = _mean_row(persona, len(me), c, me[c].dropna(), rest[c].dropna(), level)
            rows.append(row | {"measure": f"attribute {c[len(ATTRIBUTE):]}"})
    return rows


def _left_out(df: pd.DataFrame) -> str | None:
    n = df.attrs.get("without_customer_row", 0)
    return f"{n:,} ids with events in scope have no customers row and are not clustered" if n else None


def _clustered(df: pd.DataFrame) -> str:
    if (df["n_events"] > 0).any():
        return "customers with at least one (filtered) event"
    return "every customer in scope, on its attributes: no customer in scope has an event"


def _scipy_stats():
    from scipy import stats  # imported on first use: it costs 0.7 s at start-up

    return stats
