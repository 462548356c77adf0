"""The process map (`transitions_chart`): the graph of `transitions_table`, laid out left to right.

Layout (a pure function of the table, `process_map_layout`):
- Position: back edges (loops) are found by a depth-first walk from `(start)` over every
  transition that follows heavier edges first (ties by name); an edge into an activity still on
  the walk's path closes a loop. Over the other edges, in topological order, an activity's
  typical step index is 1 + the transition-weighted mean index of its predecessors (`(start)`
  is 0). Its column is that index rounded to half steps (empty columns closed up); `(end)` last.
- Drawn: the `top` heaviest transitions between two different activities, plus the start/end
  edges of those activities carrying at least 2 % of the journeys. Repeats of one activity are
  not drawn; their count is in the node's tooltip.
- Rows: within a column, activities are ordered by the mean row of their drawn neighbours
  (barycentre sweeps forward, backward, forward: fewer crossings), then by volume.
Edges: width = transitions, colour = median time between; circles sized by events.

Simplified for reading (`rare_percent`): activities with fewer than that share of all events are
drawn as one `(other)` node (`collapse_rare`); on a page the map takes the width of its container
(arrow angles follow the drawn width) and activity labels alternate above and below the circles. On a
narrow page (`width` under `page.NARROW_PX`) it reads top to bottom with at most NARROW_TOP transitions,
each label beside its circle and cut to the room before the next one (the tooltip has the whole name).
"""

from __future__ import annotations

import math
from collections import defaultdict

import altair as alt
import numpy as np
import pandas as pd

from ..deprecation import deprecated_alias
from .names import named, raw_tip
from .page import narrow
from .theme import GREY, ChartError, captioned, duration_text, empty_chart, require, shown

START, END, OTHER = "(start)", "(end)", "(other)"
COLUMNS = ("from_activity", "to_activity", "n_transitions", "median_seconds")
WIDTH_PER_COLUMN, HEIGHT_PER_ROW = 130, 62
NARROW_TOP, NARROW_ROW_PX = 12, 84   # on a phone: transitions drawn at most, height of a step
BOUNDARY_SHARE = 0.02
COLUMN_STEP = 0.5  # activities whose typical step index rounds to the same half step share a column
TIME_BANDS = ((60, "under 1 min"), (600, "1–10 min"), (3_600, "10 min–1 hour"), (86_400, "1 hour–1 day"),
              (float("inf"), "over 1 day"))   # the units of `cjworkbench.formats.duration`


def _kept_edges(table: pd.DataFrame, top: int) -> pd.DataFrame:
    """The `top` heaviest activity-to-activity edges, then the start/end edges of their activities
    that carry at least BOUNDARY_SHARE of all journey starts."""
    order = dict(ascending=[False, True, True], kind="stable")
    keys = ["n_transitions", "from_activity", "to_activity"]
    boundary = table["from_activity"].eq(START) | table["to_activity"].eq(END)
    inner = table[~boundary & (table["from_activity"] != table["to_activity"])].sort_values(keys, **order).head(top)
    drawn = set(inner["from_activity"]) | set(inner["to_activity"])
    starts = table.loc[table["from_activity"].eq(START), "n_transitions"].sum()
    edge = table[boundary & (table["from_activity"].isin(drawn) | table["to_activity"].isin(drawn))
                 & (table["n_transitions"] >= BOUNDARY_SHARE * starts)]
    if inner.empty:  # only start/end edges (one-event journeys): draw those
        edge = table[boundary].sort_values(keys, **order).head(top)
    return pd.concat([inner, edge.sort_values(keys, **order)], ignore_index=True)


def _back_edges(nodes: list[str], edges: pd.DataFrame, volume: dict) -> set[tuple[str, str]]:
    out = defaultdict(list)
    for f, t, n in edges[["from_activity", "to_activity", "n_transitions"]].itertuples(index=False):
        out[f].append((-n, t))
    for f in out:
        out[f].sort()
    state, back = {}, set()  # state: 1 on the current path, 2 done

    def walk(root: str) -> None:
        stack = [(root, iter(out[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            for _, child in children:
                if state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(out[child])))
                    break
            else:
                state[node] = 2
                stack.pop()

    has_in = set(edges["to_activity"])
    roots = ([START] if START in nodes else []) + sorted(
        (n for n in nodes if n not in has_in and n != START), key=lambda n: (-volume.get(n, 0), n))
    for root in roots + sorted(nodes, key=lambda n: (-volume.get(n, 0), n)):
        if root not in state:
            walk(root)
    return back


def process_map_layout(table: pd.DataFrame, *, top: int = 30) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, edges) of the map: nodes with `activity`, `position` (typical step index),
    `column`, `row`, `volume`, `n_loops`; the drawn edges with `x`, `y`, `x2`, `y2` and `back`."""
    require(table, COLUMNS, chart="process_map_layout", source="transitions_table()")
    if not isinstance(top, int) or isinstance(top, bool) or top < 1:
        raise ChartError(f"top must be a whole number of edges of at least 1, got {top!r}.")
    edges = _kept_edges(table, top)
    incoming = table.groupby("to_activity")["n_transitions"].sum()
    outgoing = table.groupby("from_activity")["n_transitions"].sum()
    loops = table[table["from_activity"] == table["to_activity"]].set_index("from_activity")["n_transitions"]
    graph = table[table["from_activity"] != table["to_activity"]]
    every = sorted(set(graph["from_activity"]) | set(graph["to_activity"]))
    volume = {n: int(max(incoming.get(n, 0), outgoing.get(n, 0))) for n in every}
    back = _back_edges(every, graph, volume)
    position = _positions(every, graph, back)
    nodes = sorted(set(edges["from_activity"]) | set(edges["to_activity"]), key=lambda n: (position[n], n))
    column = {n: int(math.floor(position[n] / COLUMN_STEP + 0.5)) for n in nodes}
    if END in column:
        column[END] = max([c for n, c in column.items() if n != END] + [0]) + 1
    rank = {c: i for i, c in enumerate(sorted(set(column.values())))}  # no empty columns
    column = {n: rank[c] for n, c in column.items()}
    drawn = [(f, t) for f, t in zip(edges["from_activity"], edges["to_activity"]) if (f, t) not in back]
    row = _rows(nodes, column, drawn, volume)
    node_df = pd.DataFrame({"activity": nodes, "position": [round(position[n], 3) for n in nodes],
                            "column": [column[n] for n in nodes], "row": [row[n] for n in nodes],
                            "volume": [volume[n] for n in nodes], "n_loops": [int(loops.get(n, 0)) for n in nodes]})
    node_df = node_df.sort_values(["column", "row"], kind="stable").reset_index(drop=True)
    edges = edges.assign(x=edges["from_activity"].map(column), y=edges["from_activity"].map(row),
                         x2=edges["to_activity"].map(column), y2=edges["to_activity"].map(row),
                         back=[(f, t) in back for f, t in zip(edges["from_activity"], edges["to_activity"])])
    return node_df, edges


def _positions(nodes: list[str], graph: pd.DataFrame, back: set) -> dict[str, float]:
    """Typical step index: 1 + the transition-weighted mean index of the predecessors, over the
    edges that are not back edges, in topological order; `(start)` is 0."""
    forward = [(f, t, n) for f, t, n in graph[["from_activity", "to_activity", "n_transitions"]]
               .itertuples(index=False) if (f, t) not in back]
    preds, indegree = defaultdict(list), dict.fromkeys(nodes, 0)
    for f, t, n in forward:
        preds[t].append((f, n))
        indegree[t] += 1
    succ = defaultdict(list)
    for f, t, _ in forward:
        succ[f].append(t)
    ready = sorted(n for n in nodes if indegree[n] == 0)
    base = 1.0 if START in nodes else 0.0
    position: dict[str, float] = {}
    while ready:
        node = ready.pop(0)
        weights = [(position[f] + 1, n) for f, n in preds[node]]
        total = sum(n for _, n in weights)
        position[node] = 0.0 if node == START else (sum(p * n for p, n in weights) / total if total else base)
        for t in succ[node]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
        ready.sort()
    return position


def _rows(nodes, column, drawn, volume) -> dict[str, float]:
    """Rows within each column, centred on 0: ordered by the mean row of the drawn predecessors,
    then of the successors, then of the predecessors again (barycentre sweeps; fewer crossings)."""
    neighbours = {"in": defaultdict(list), "out": defaultdict(list)}
    for f, t in drawn:
        neighbours["in"][t].append(f)
        neighbours["out"][f].append(t)
    columns = sorted(set(column.values()))
    row: dict[str, float] = {}
    for side, order in (("in", columns), ("out", columns[::-1]), ("in", columns)):
        for col in order:
            members = [n for n in nodes if column[n] == col]
            placed = {n: [row[p] for p in neighbours[side][n] if p in row and column[p] != col] for n in members}
            members.sort(key=lambda n: (float(np.mean(placed[n])) if placed[n] else row.get(n, 0.0), -volume[n], n))
            row.update({n: i - (len(members) - 1) / 2 for i, n in enumerate(members)})
    return row


def collapse_rare(table: pd.DataFrame, rare_percent: float) -> tuple[pd.DataFrame, list[str]]:
    """(table, collapsed activities): activities with fewer than `rare_percent` % of all events
    (`volume` as in the layout) renamed `(other)` and their transitions added up; an edge's median
    time becomes the transition-weighted median of the medians it merges (a reading aid, shown in
    the tooltip only). Fewer than two rare activities: the table unchanged."""
    if not isinstance(rare_percent, (int, float)) or isinstance(rare_percent, bool) or not 0 <= rare_percent < 100:
        raise ChartError(f"rare_percent must be a share of events from 0 to 99 %, got {rare_percent!r}.")
    inner = table[~table["to_activity"].eq(END)]
    volume = inner.groupby("to_activity")["n_transitions"].sum().drop(START, errors="ignore")
    rare = sorted(volume.index[volume < rare_percent / 100 * volume.sum()])
    if len(rare) < 2:
        return table, []
    df = table.assign(from_activity=table["from_activity"].where(~table["from_activity"].isin(rare), OTHER),
                      to_activity=table["to_activity"].where(~table["to_activity"].isin(rare), OTHER))
    rows = []
    for (f, t), g in df.groupby(["from_activity", "to_activity"], sort=True):
        row = {"from_activity": f, "to_activity": t, "n_transitions": int(g["n_transitions"].sum())}
        for col in ("median_seconds", "p90_seconds"):
            if col in g.columns:
                row[col] = _weighted_median(g[col], g["n_transitions"])
        if "n_journeys" in g.columns:
            row["n_journeys"] = g["n_journeys"].iloc[0] if len(g) == 1 else np.nan  # merged: not additive
        rows.append(row)
    return pd.DataFrame(rows), rare


def _weighted_median(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna()
    if not ok.any():
        return np.nan
    v, wt = values[ok].to_numpy(float), weights[ok].to_numpy(float)
    order = np.argsort(v, kind="stable")
    cum = np.cumsum(wt[order])
    return float(v[order][np.searchsorted(cum, cum[-1] / 2)])


def transitions_chart(table: pd.DataFrame, *, top: int = 30, rare_percent: float = 0,
                      title: str = "Process map", labels=None, width: int | None = None) -> alt.VConcatChart:
    """Transition graph left to right: circles sized by events, edges wide by transitions and
    coloured by median time between the two activities; start/end edges thin, grey, dashed.
    `rare_percent` > 0 draws the activities under that share of events as one `(other)` node.
    On a page narrower than `page.NARROW_PX` (`width`) the map reads top to bottom, draws at most
    NARROW_TOP transitions and cuts each label to the room beside its neighbours (the tooltip keeps it)."""
    require(table, COLUMNS, chart="transitions_chart", source="transitions_table()")
    df, rare = collapse_rare(shown(table), rare_percent) if rare_percent else (shown(table), [])
    if df.empty:
        return captioned(empty_chart(title), table)
    down = narrow(width)
    nodes, edges = process_map_layout(df, top=min(top, NARROW_TOP) if down else top)
    if nodes.empty:
        return captioned(empty_chart(title, "Only repeats of single activities: no transition to draw."), table)
    n_cols, n_rows = int(nodes["column"].max()) + 1, int(nodes.groupby("column").size().max())
    half = max(n_rows / 2, 1.0)
    edges = named(_edge_fields(edges), ["from_activity", "to_activity"], labels)  # laid out by raw name
    steps = alt.Scale(domain=[-0.5, n_cols - 0.5], reverse=down)  # top to bottom on a phone
    rows = alt.Scale(domain=[-half, half], reverse=not down)      # rows grow downwards (left to right on a phone)
    if down:   # columns become rows: x is the row, y the column
        width, height, x_scale, y_scale, span = max(160, width - 30), NARROW_ROW_PX * n_cols, rows, steps, (2 * half, n_cols)
        edges = edges.rename(columns={"x": "y", "y": "x", "x2": "y2", "y2": "x2", "mx": "my", "my": "mx"})
    else:
        width, height, x_scale, y_scale = max(360, WIDTH_PER_COLUMN * n_cols), max(200, HEIGHT_PER_ROW * n_rows), steps, rows
        span = (n_cols, 2 * half)

    def xy(x: str, y: str) -> dict:
        return {"x": alt.X(f"{x}:Q", scale=x_scale, axis=None), "y": alt.Y(f"{y}:Q", scale=y_scale, axis=None)}

    tip = [alt.Tooltip("from_activity:N", title="from"), alt.Tooltip("to_activity:N", title="to"),
           *raw_tip(edges, "from_activity", "from, in the data"), *raw_tip(edges, "to_activity", "to, in the data"),
           alt.Tooltip("n_transitions:Q", title="transitions", format=","),
           alt.Tooltip("n_journeys:Q", title="journeys", format=","),
           alt.Tooltip("median_time:N", title="median time between"),
           alt.Tooltip("p90_time:N", title="90th percentile")]
    base = alt.Chart(edges)
    inner = base.transform_filter("!datum.boundary").mark_rule(opacity=0.8).encode(
        **xy("x", "y"), x2="x2:Q", y2="y2:Q", tooltip=tip,
        size=alt.Size("n_transitions:Q", title="transitions", scale=alt.Scale(range=[1, 14]),
                      legend=alt.Legend(format=",d")),   # "," alone reads "2e+3" (d3 tickFormat)
        color=alt.Color("time_band:O", title="median time between",
                        scale=alt.Scale(domain=[b for _, b in TIME_BANDS], scheme="viridis", reverse=True)))
    outer = base.transform_filter("datum.boundary").mark_rule(
        color=GREY, opacity=0.6, strokeDash=[4, 3], strokeWidth=1.2).encode(**xy("x", "y"), x2="x2:Q", y2="y2:Q",
                                                                             tooltip=tip)
    # the arrow's screen angle from the drawn size (`width` follows the page's container)
    angle = (f"(atan2((datum.y2 - datum.y) * height / {span[1]}, (datum.x2 - datum.x) * width / {span[0]})"
             f" * 180 / PI + 360) % 360")   # both drawn axes grow rightwards / downwards
    arrows = base.transform_calculate(angle=angle).mark_point(
        shape="triangle-right", filled=True, color="#555555", opacity=0.8, size=40).encode(
        **xy("mx", "my"), angle=alt.Angle("angle:Q", scale=None), tooltip=tip)
    nodes = named(nodes, ["activity"], labels)
    node_tip = [alt.Tooltip("activity:N", title="activity"), *raw_tip(nodes, "activity"),
                alt.Tooltip("volume:Q", title="events", format=","),
                alt.Tooltip("n_loops:Q", title="repeats (self-loops)", format=","),
                alt.Tooltip("column:Q", title="position")]
    nodes = nodes.assign(area=60 + 840 * nodes["volume"] / max(int(nodes["volume"].max()), 1))
    at = xy(*(("row", "column") if down else ("column", "row")))
    node_base = alt.Chart(nodes).encode(**at, tooltip=node_tip)
    circles = node_base.mark_circle(color="#2f4b7c", opacity=0.9, stroke="white", strokeWidth=1).encode(
        size=alt.Size("area:Q", scale=None))
    if down:   # beside each circle, away from the edges running down, cut to the room before the next circle
        unit = width / span[0]
        after = nodes.groupby("column")["row"].transform(lambda r: r.shift(-1, fill_value=half + 0.5))
        nodes = nodes.sort_values(["column", "row"]).assign(room=((after - nodes["row"]) * unit - 26).clip(lower=40))
        label_base = alt.Chart(nodes).encode(**at, tooltip=node_tip, text="activity:N")
        labels = label_base.mark_text(align="left", dx=13, fontSize=10, limit=alt.ExprRef("datum.room"))
    else:      # above and below, alternating by column: neighbouring columns' labels do not collide
        nodes = nodes.assign(above=nodes["column"] % 2 == 0)
        label_base = alt.Chart(nodes).encode(**at, tooltip=node_tip, text="activity:N")
        labels = alt.layer(label_base.transform_filter("datum.above").mark_text(dy=-17, fontSize=10, limit=150),
                           label_base.transform_filter("!datum.above").mark_text(dy=19, fontSize=10, limit=150))
    n_inner = int((~edges["boundary"]).sum())
    n_all = int(((df["from_activity"] != df["to_activity"]) & (df["from_activity"] != START)
                 & (df["to_activity"] != END)).sum())
    subtitle = (f"The {n_inner} busiest of {n_all} transitions between activities (repeats of one activity "
                "not drawn); width = transitions, colour = median time between")
    if rare:
        subtitle = [subtitle, f"{len(rare)} activities with under {rare_percent:g} % of events drawn as {OTHER}"]
    chart = alt.layer(outer, inner, arrows, circles, labels).properties(
        width=width, height=height, title=alt.TitleParams(title, subtitle=subtitle))
    return captioned(chart, table, keys=("duration",), width=max(110, width // 6))


process_map_chart = deprecated_alias(transitions_chart, "process_map_chart")


def _edge_fields(edges: pd.DataFrame) -> pd.DataFrame:
    """Arrow position (60 % along the edge); readable times for the tooltip (the arrow's screen
    angle is computed by the chart from its drawn size)."""
    out = edges.assign(mx=edges["x"] + 0.6 * (edges["x2"] - edges["x"]),
                       my=edges["y"] + 0.6 * (edges["y2"] - edges["y"]),
                       median_time=edges["median_seconds"].map(duration_text),
                       time_band=edges["median_seconds"].map(_band),
                       boundary=edges["from_activity"].eq(START) | edges["to_activity"].eq(END),
                       p90_time=edges.get("p90_seconds", pd.Series(np.nan, index=edges.index)).map(duration_text))
    if "n_journeys" not in out.columns:
        out["n_journeys"] = np.nan
    keep = ["from_activity", "to_activity", "n_transitions", "n_journeys", "median_seconds", "median_time",
            "p90_time", "time_band", "boundary", "x", "y", "x2", "y2", "mx", "my", "back"]
    return out[keep]


def _band(seconds) -> str | None:
    if pd.isna(seconds):
        return None
    return next(label for limit, label in TIME_BANDS if seconds < limit)
