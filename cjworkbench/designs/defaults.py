"""Defaults the faces start from: the database's designs first, else what the data shows.

Each works on any database that follows the contract (an events-only one included) and raises
DesignMissingError only when nothing can be inferred (no events).
"""

from __future__ import annotations

import ibis

from ..contract import INSTRUMENTS
from ..errors import DesignMissingError
from ..model import ARROW, DERIVED, traces, with_steps
from .store import design, design_names, has_design

MAX_PATH_STEPS = 4   # activities of the most common path a default funnel takes


def _steps(con):
    """Journey-ordered events: the stored `journey_steps`, else the same expression on `events`."""
    if set(DERIVED) <= set(con.list_tables()):
        return con.table("journey_steps")
    ev = con.table("events")
    return with_steps(ev.mutate(journey_key=ev.journey_id.fill_null(ev.customer_id)))


def _journeys(con):
    if set(DERIVED) <= set(con.list_tables()):
        return con.table("journeys")
    return traces(_steps(con)).drop("trace")


def default_funnel(con) -> tuple[str, list[str], str | None]:
    """(name, steps, window) of the first named funnel (`designs: funnels:`); else the most common
    path: the most frequent journey variant (ties: alphabetical) that has at least two distinct
    activities, cut to its first MAX_PATH_STEPS distinct activities in journey order, named
    "most common path", with no window."""
    if has_design(con, "funnels"):
        name = design_names(con, "funnels")[0]
        body = design(con, "funnels", name)
        window = body.get("window")
        return name, list(body["steps"]), None if window in (None, "") else str(window)
    j = _journeys(con)
    top = (j.group_by("variant").aggregate(n=j.count()).order_by([ibis.desc("n"), "variant"]).limit(200).execute())
    for variant in top["variant"]:
        steps = list(dict.fromkeys(str(variant).split(ARROW)))[:MAX_PATH_STEPS]
        if len(steps) >= 2:
            return "most common path", steps, None
    what = "no events" if top.empty else "no journey with two different activities"
    raise DesignMissingError(f"This database has {what}, so there is no default funnel. Add `designs: funnels:` "
                             f"to the ingest config and run `cjw designs`.")


def default_goal(con) -> str:
    """The configured goal (`designs: goal:`, else a single-activity `roles: goal:`); else the most
    common last activity of journeys (ties: alphabetical)."""
    if has_design(con, "goal"):
        return str(design(con, "goal"))
    if has_design(con, "roles"):
        goal = design(con, "roles").get("goal")
        goal = goal[0] if isinstance(goal, list) and len(goal) == 1 else goal
        if isinstance(goal, str) and goal:
            return goal
    st = _steps(con)
    last = st.filter(st.next_activity.isnull())
    top = last.group_by("activity").aggregate(n=last.count()).order_by([ibis.desc("n"), "activity"]).limit(1)
    top = top.execute()
    if top.empty:
        raise DesignMissingError("This database has no events, so there is no default goal. Add `designs: goal:` "
                                 "to the ingest config and run `cjw designs`.")
    return str(top["activity"].iloc[0])


def instruments_present(con) -> list[str]:
    """Instruments with at least one answer in `feedback`, in contract.INSTRUMENTS order ([] without feedback)."""
    fb = con.table("feedback")
    seen = set(fb.select("instrument").distinct().execute()["instrument"].dropna())
    return [i for i in INSTRUMENTS if i in seen]
