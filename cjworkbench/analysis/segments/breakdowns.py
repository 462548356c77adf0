"""Any attribute as a breakdown (`by=`): a canonical event column, the customer's `segment`, a
customer attribute or an event attribute (keys of the `attributes` MAP, e.g. a column a source
derived at ingest). A numeric attribute (at least 95 % of its values are numbers, more than
`BANDS` distinct values) is cut into quartile bands whose edges are in the label: `≤ 34`,
`(34, 45]`, `> 51` (edges: exact quantiles of the attribute's values over all customers, or over
all events). Missing values fall in `(none)`. The name only ever selects a column or a map key;
it never becomes SQL text.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from ...errors import did_you_mean
from ...scope import FilterError

EVENT_COLUMNS = ("activity", "touchpoint", "channel", "department", "device", "stage", "source")
NONE = "(none)"
BANDS = 4
NUMERIC_SHARE = 0.95


@dataclass(frozen=True)
class Breakdown:
    """What a `by` name resolved to: `kind` is event column, segment, customer attribute or event
    attribute; `edges` are the inner band edges of a numeric attribute (empty: values as they are)."""

    name: str
    kind: str
    edges: tuple[float, ...] = ()


def attribute_keys(con, table: str) -> list[str]:
    """The keys of `table`'s `attributes` MAP, sorted."""
    t = con.table(table)
    keys = t.select(k=t.attributes.keys().unnest()).distinct()
    return sorted(k for k in keys.k.execute().tolist() if k is not None)


def resolve_by(con, by: str, *, columns=EVENT_COLUMNS) -> Breakdown:
    """Resolve a `by` name: a column, `segment`, then a customer attribute, then an event attribute;
    an unknown name is a FilterError naming the nearest columns and attributes."""
    if not isinstance(by, str) or not by:
        raise FilterError(f"by must be a column or attribute name, got {by!r}.")
    if by in columns:
        return Breakdown(by, "event column")
    if by == "segment":
        return Breakdown(by, "segment")
    keys = {t: attribute_keys(con, t) for t in ("customers", "events")}
    table = next((t for t in ("customers", "events") if by in keys[t]), None)
    if table is None:
        listed = [*columns, "segment", *keys["customers"], *keys["events"]]
        raise FilterError(f"Unknown by '{by}'.{did_you_mean(by, listed)} Columns: {', '.join(columns)}, segment; "
                          f"customer attributes: {_few(keys['customers'])}; event attributes: {_few(keys['events'])}.")
    t = con.table(table)
    return Breakdown(by, f"{table[:-1]} attribute", _edges(t.attributes[by]))


def _few(names: list[str], n: int = 25) -> str:
    return (", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")) or "none"


def _edges(value: ir.StringValue) -> tuple[float, ...]:
    """Inner quartile edges of a numeric attribute, or () when it is not numeric."""
    x = value.try_cast("float64")
    stats = value.as_table().aggregate(
        n=value.count(), n_num=x.count(), n_distinct=x.nunique(),
        **{f"q{i}": x.quantile(i / BANDS) for i in range(1, BANDS)}).execute().iloc[0]
    if not stats.n or stats.n_num < NUMERIC_SHARE * stats.n or stats.n_distinct <= BANDS:
        return ()
    return tuple(sorted({float(stats[f"q{i}"]) for i in range(1, BANDS)}))


def band_labels(edges: tuple[float, ...]) -> list[str]:
    """Labels of the bands cut at `edges`: `≤ e1`, `(e1, e2]`, …, `> ek`."""
    inner = [f"({lo:g}, {hi:g}]" for lo, hi in zip(edges, edges[1:])]
    return [f"≤ {edges[0]:g}", *inner, f"> {edges[-1]:g}"]


def grouped(value: ir.StringValue, b: Breakdown) -> ir.StringValue:
    """The group of each row: the text value, or its band when the attribute is numeric."""
    if not b.edges:
        return value.cast("string").fill_null(NONE)
    x = value.try_cast("float64")
    labels = band_labels(b.edges)
    cases = [(x <= e, labels[i]) for i, e in enumerate(b.edges)]
    return ibis.cases((x.isnull(), NONE), *cases, else_=labels[-1])


def with_group(con, t: ir.Table, b: Breakdown) -> ir.Table:
    """`t` (rows with `customer_id`, and `seq` for an event attribute) with the `group` column of `b`."""
    if b.kind == "event column":
        return t.mutate(group=grouped(t[b.name], b))
    if b.kind == "event attribute":
        ev = con.table("events")
        ev = ev.select(g_seq=ev.seq, group=grouped(ev.attributes[b.name], b))
        return t.left_join(ev, t.seq == ev.g_seq).drop("g_seq").mutate(group=ibis._.group.fill_null(NONE))
    cust = con.table("customers")
    value = cust.segment if b.kind == "segment" else cust.attributes[b.name]
    cust = cust.select(g_id=cust.customer_id, group=grouped(value, b))
    return t.left_join(cust, t.customer_id == cust.g_id).drop("g_id").mutate(group=ibis._.group.fill_null(NONE))
