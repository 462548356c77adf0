"""The one check of a value an analysis is asked about, and the one sentence for an empty scope.

- `check_known`: an activity, step, outcome activity, touchpoint, channel, instrument, segment, …
  that the data does not hold is an error naming the nearest real values ("Unknown activity
  'chekout_start'. Did you mean 'checkout_start'? …"), never a silent table of zeros.
- `empty_scope`: filters that leave nothing to analyse give one `EmptyScopeError` sentence saying
  which filters were set and, for a filter value the data does not hold, its nearest real value.
Distinct values are read once per connection (`cjworkbench.cache`); values stay literals.
"""

from __future__ import annotations

from ..cache import remember
from ..errors import EmptyScopeError, FilterError, unknown
from ..scope import ANSWER_FIELDS, as_filters

# filter field -> (table, column) holding its values
FILTER_VALUES = {"segment": ("customers", "segment"), "channel": ("events", "channel"),
                 "device": ("events", "device"), "touchpoint": ("events", "touchpoint"),
                 "source": ("events", "source"), "activity": ("events", "activity"),
                 "has_activity": ("events", "activity")}


def known_values(con, table: str, column: str) -> list[str]:
    """The distinct non-NULL values of `table.column`, sorted (read once per connection)."""
    def read() -> list[str]:
        t = con.table(table)
        return sorted(map(str, t.filter(t[column].notnull()).select(column).distinct().execute()[column]))

    return remember(con, "object", ("known", table, column), read, size=64)


def _listed(values) -> list:
    return list(values) if isinstance(values, (list, tuple, set, frozenset)) else [values]


def check_known(con, what: str, values, *, column: str | None = None, table: str = "events") -> None:
    """Raise FilterError naming the nearest real values when a value is absent from `table.column`
    (`column` defaults to `what`); None and empty values are not checked."""
    wanted = [v for v in _listed(values) if v not in (None, "")]
    if not wanted:
        return
    known = known_values(con, table, column or what)
    for v in wanted:
        if str(v) not in known:
            raise FilterError(unknown(what, v, known))


def empty_scope(con, filters, what: str, *, answers: bool = False) -> EmptyScopeError:
    """THE error for filters that leave no `what` ("journeys", "nps answers", …): one sentence,
    naming each filter value the data does not hold (`answers`: channel / touchpoint / source are
    read on the answers, as FEEDBACK_RULE says)."""
    f = as_filters(filters)
    said = {k: v for k, v in f.describe().items() if k != "personas"}
    hints = []
    for name, (table, column) in FILTER_VALUES.items():
        if answers and name in ANSWER_FIELDS:
            table = "feedback"
        known = known_values(con, table, column) if getattr(f, name) else []
        hints += [unknown(name, v, known) for v in _listed(getattr(f, name) or []) if str(v) not in known]
    setting = ", ".join(f"{k}={v!r}" for k, v in said.items()) if said else "no filters"
    return EmptyScopeError(f"No {what} in scope ({setting}). " + (" ".join(hints) if hints else
                           "Widen the filters (dates, segment, channel) to see results."))
