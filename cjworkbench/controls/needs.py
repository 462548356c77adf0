"""What a view needs from the database, and the one sentence said when it is missing.

A notebook names a view's inputs: `show(panel, table, chart, requires=("feedback",), ...)`. Before
the view runs its table it asks `missing(panel, requires, options)`: the first input the database
lacks becomes one sentence in place of the chart, saying what is missing and which ingest-config key
adds it ("No feedback in this database: add a source with `kind: feedback` to the ingest config."),
in a dashboard and in a report alike; never an error. When the panel's *filters* leave no events and
no answers, `unmatched(panel)` is one sentence for the whole page (the panel says it, once) and every
view stays empty. Each check is one small query, remembered per panel.
"""

from __future__ import annotations

import html
import re

from ..cache import remember

SCORED = ("nps", "csat", "ces", "review")   # instruments with a score (complaint and social are texts)
LABEL = {"nps": "NPS", "csat": "CSAT", "ces": "CES", "review": "review", "complaint": "complaint",
         "social": "social-media"}
CHANNEL_KEY = "map `channel` in an events source (`columns:`, `constants:` or `maps:`) of the ingest config"
SENTENCES = {
    "events": "No events in this database: add a source with `kind: events` to the ingest config.",
    "feedback": "No feedback in this database: add a source with `kind: feedback` to the ingest config.",
    "scores": "No scored answers in this database (NPS, CSAT, CES or review stars): add a feedback source with "
              "`instrument:` and a `score` column to the ingest config.",
    "texts": "No feedback comments in this database: map `text` in a feedback source's `columns:` in the ingest "
             "config.",
    "channels": f"No channels in this database, so no switches between them: {CHANNEL_KEY}.",
    "touchpoints": f"No attribution touchpoints in this database (no event has a channel): {CHANNEL_KEY}.",
    "segments": "No customer segments in this database: add a source with `kind: customers` that maps `segment` "
                "to the ingest config.",
    "personas": "No personas in this database: add `designs: personas:` to the ingest config.",
    "journey": "No designed journey in this database: add `designs: journeys:` to the ingest config.",
    "kpi_map": "No KPI map in this database: add `designs: kpi_map:` to the ingest config.",
    "roles": "No KPI roles in this database (no activity plays a part the KPI library knows): name them under "
             "`designs: roles:` in the ingest config, e.g. `goal: order_placed`.",
    "themes": "No theme taxonomy in this database: add `designs: themes:` to the ingest config.",
    "identity": "Not shown — no `identity:` block in the config, so no customer numbers were linked into persons: "
                "add one (README, Identity across silos) and run `cjw ingest` again.",
}
MEMO = 64  # remembered answers per panel (each need once, plus the filters seen)
FUNNEL = ("No funnel in this database: no journey has two different activities. Add `designs: funnels:` to the "
          "ingest config, or give the steps.")
NEEDS = (*SENTENCES, "score", "funnel")   # the view's `instrument` / `outcome` has scored answers; its `steps` are 2+


def _count(con, table: str, column: str | None = None, values=None) -> int:
    t = con.table(table)
    if column is not None:
        t = t.filter(t[column].notnull() if values is None else t[column].isin(list(values)))
    return int(t.count().execute())


def _distinct(con, table: str, column: str) -> list[str]:
    t = con.table(table)
    return sorted(str(v) for v in t.select(column).distinct().execute()[column].dropna())


def _has_design(con, kind: str) -> bool:
    from ..designs.store import has_design

    return has_design(con, kind)


def _roles(con) -> bool:
    from ..roles import resolve_roles

    return _has_design(con, "roles") or any(resolve_roles(con)[0].values())


CHECKS = {
    "events": lambda con: _count(con, "events") > 0,
    "feedback": lambda con: _count(con, "feedback") > 0,
    "scores": lambda con: _count(con, "feedback", "instrument", SCORED) > 0,
    "texts": lambda con: _count(con, "feedback", "text") > 0,
    "channels": lambda con: len(_distinct(con, "events", "channel")) >= 2,
    "touchpoints": lambda con: _count(con, "events", "channel") > 0,
    "segments": lambda con: _count(con, "customers", "segment") > 0,
    "personas": lambda con: _has_design(con, "personas"),
    "journey": lambda con: _has_design(con, "journeys"),
    "kpi_map": lambda con: _has_design(con, "kpi_map"),
    "roles": _roles,
    "themes": lambda con: _has_design(con, "themes"),
    "identity": lambda con: "persons" in con.list_tables(),
}


def met(panel, need: str) -> bool:
    """Whether the panel's database has input `need` (one of NEEDS but "score"), remembered per panel."""
    if need not in CHECKS:
        from ..errors import ControlError, one_of

        raise ControlError(one_of("requires", need, NEEDS))
    return remember(panel, "object", ("needs", need), lambda: bool(CHECKS[need](panel.con)), size=MEMO)


def _score(panel, options: dict) -> str:
    """The sentence when the view's instrument (or driver outcome) has no scored answers ('' when it has)."""
    chosen = options.get("instrument") or options.get("outcome")
    if chosen is None or not met(panel, "feedback"):
        return "" if chosen is None else SENTENCES["feedback"]
    chosen = "nps" if chosen == "detractor" else str(chosen)
    present = remember(panel, "object", ("needs", "instruments"),
                       lambda: _distinct(panel.con, "feedback", "instrument"), size=MEMO)
    if chosen not in SCORED:
        return (f"{LABEL.get(chosen, chosen).capitalize()} answers carry no score, so there is none to show here "
                f"(their sentiment reads the text): add a scored feedback source (`instrument:` nps, csat, ces or "
                f"review, with a `score` column) to the ingest config.")
    if chosen not in present:
        return (f"No {LABEL[chosen]} answers in this database (it has {', '.join(present)}): add a feedback source "
                f"with `instrument: {chosen}` to the ingest config, or pick another score.")
    return ""


def missing(panel, requires, options: dict | None = None) -> str:
    """The sentence for the first input of `requires` the database lacks; '' when all are there."""
    for need in requires or ():
        if need == "score":
            text = _score(panel, options or {})
            if text:
                return text
        elif need == "funnel":
            if len((options or {}).get("steps") or ()) < 2:
                return FUNNEL
        elif not met(panel, need):
            return SENTENCES[need]
    return ""


def unmatched(panel) -> str:
    """One sentence when the panel's filters leave no events and no answers ('' otherwise, or with no filters)."""
    from ..scope import scope

    filters = panel.filters
    shown = {k: v for k, v in filters.describe().items() if k != "personas"}
    if not shown:
        return ""

    def count() -> int:
        sc = scope(panel.con, filters)
        return int(sc.events().count().execute()) + int(sc.feedback().count().execute())

    if remember(panel, "object", ("needs", "unmatched", repr(filters)), count, size=MEMO):
        return ""
    said = ", ".join(f"{k} = {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in shown.items())
    return f"No journeys match these filters: {said}. Widen the dates or clear a filter."


def note_html(text: str) -> str:
    """A missing-input sentence for the page: a plain note, not an error ('' clears it)."""
    if not text:
        return ""
    words = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
    return (f'<div class="cjw-missing" style="color:#444;background:#f3f3f3;padding:6px 10px;border-radius:4px">'
            f"{words}</div>")


__all__ = ["NEEDS", "SENTENCES", "met", "missing", "note_html", "unmatched"]
