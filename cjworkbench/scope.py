"""The scope every analysis starts from: filters plus the journey unit, turned into scoped
events, journey steps / journeys, feedback answers and customers (Ibis expressions). This is the
only module that reads `Filters` fields: analyses ask a `Scope` for their tables.

Events and journeys (EVENT_RULE):
- event level (`channel`, `device`, `touchpoint`, `source`, `activity`): only matching events
  are kept, so paths are drawn through them alone;
- customer level (`segment`, `attributes`, `persona` under the `personas` rules): journeys of
  matching customers (persona resolved once, by `designs.personas.persona_of`);
- journey level (`start_date`, `end_date`): journeys whose first (kept) event's business date is
  in the range (`in_date_range`, the one date rule); `has_activity`: journeys with such an event.
Feedback answers follow FEEDBACK_RULE; `Scope.history()` is a scoped customer's whole event
history (no date or event-level cut) for journey facts and "the event before an answer".
Units (`cjworkbench.units`): journey, customer or session. Values are literals, never SQL text.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import asdict, dataclass, field, replace

import ibis
import ibis.expr.types as ir

from .cache import remember
from .errors import FilterError, WorkbenchError, one_of  # noqa: F401  (FilterError re-exported)
from .periods import as_date as _date
from .model import ARROW, DERIVED, TIE_RULE, epoch, ordered_window, traces, with_steps  # noqa: F401  (re-exported for analyses)
from .units import SESSION_GAP_SECONDS, UNITS, journey_key, keyed, with_visits  # noqa: F401  (re-exported)

IDENTITIES = ("customer", "person")   # what customer_id means: the export's key, or the linked person
EVENT_FILTERS = ("channel", "device", "touchpoint", "source", "activity")
ANSWER_FIELDS = ("channel", "touchpoint", "source")   # read on the answer's own row
EVENT_RULE = ("channel / device / touchpoint / source / activity keep matching events; segment / attributes / "
              "persona keep the matching customers' journeys; start_date / end_date keep journeys whose first "
              "kept event's business date is in the range (inclusive); has_activity keeps journeys with such "
              "an event")
FEEDBACK_RULE = ("start_date / end_date: the answer's business date feedback_date (inclusive); segment / attributes / "
                 "persona: the answering customer; channel / touchpoint / source: the answer's own field (where "
                 "it was given / what it is about; an answer without a value there does not match); device / "
                 "activity / has_activity: answers of customers with such an event (at least one, any date); the "
                 "event an answer follows and its journey facts come from the customer's whole event history "
                 "(no date or event-level cut)")


@dataclass(frozen=True)
class Filters:
    """What to look at. Empty fields filter nothing; list fields match any of their values."""

    start_date: dt.date | str | None = None
    end_date: dt.date | str | None = None
    segment: str | tuple[str, ...] | None = None
    attributes: dict[str, str | tuple[str, ...]] = field(default_factory=dict)
    channel: str | tuple[str, ...] | None = None
    device: str | tuple[str, ...] | None = None
    touchpoint: str | tuple[str, ...] | None = None
    source: str | tuple[str, ...] | None = None
    activity: str | tuple[str, ...] | None = None
    has_activity: str | tuple[str, ...] | None = None
    persona: str | tuple[str, ...] | None = None
    personas: str | dict | None = None   # personas rules (YAML path or mapping); None: the database's
    identity: str | None = None   # "person": customer_id is the linked person (table persons, cjworkbench.identity)

    def describe(self) -> dict:
        """The non-empty filters, for a result's definition."""
        out = {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()
               if v not in (None, {}, (), "")}
        if isinstance(out.get("personas"), (str, os.PathLike)):   # the rules' file name, never a server path
            out["personas"] = os.path.basename(os.fspath(out["personas"]))
        elif "personas" in out:
            out["personas"] = "(rules given inline)"
        return out

    @property
    def has_event_filters(self) -> bool:
        return any(getattr(self, f) for f in EVENT_FILTERS)

    @property
    def has_customer_filters(self) -> bool:
        return bool(self.segment or self.attributes or self.persona)


def as_filters(filters) -> Filters:
    """Filters from a Filters, a dict of its fields, a Scope (its filters) or None."""
    if filters is None:
        return Filters()
    if isinstance(filters, Filters):
        return filters
    if isinstance(filters, Scope):
        return filters.filters
    try:
        return Filters(**filters)
    except TypeError as exc:
        raise FilterError(f"Unknown filter in {sorted(filters)}: {exc}. Allowed: "
                          f"{', '.join(Filters.__dataclass_fields__)}.") from None


def _values(value) -> list:
    return list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        from .errors import one_of

        raise FilterError(one_of("unit", unit, UNITS))
    return unit


def _strs(value) -> list[str]:
    return [str(v) for v in _values(value)]


def in_date_range(date: ir.DateValue, start=None, end=None) -> ir.BooleanValue:
    """THE date rule, the one place it is written: the business date `date` (a DATE column such as
    `event_date`, `feedback_date` or a journey's `start_date`: the date in the business time zone,
    see `ingest.local_time`) lies in start..end, both inclusive (True when neither is set)."""
    cond = ibis.literal(True)
    if start:
        cond &= date >= ibis.date(_date(start, "start_date"))
    if end:
        cond &= date <= ibis.date(_date(end, "end_date"))
    return cond


def definition(df, **items):
    """Attach what a result means (unit, filters, rules) to `df.attrs['definition']`; return df."""
    df.attrs["definition"] = {k: v for k, v in items.items() if v is not None}
    return df


@dataclass(frozen=True, eq=False)
class Scope:
    """Filters and the unit on one connection; every table an analysis starts from."""

    con: object = field(repr=False)
    filters: Filters = field(default_factory=Filters)
    unit: str = "journey"

    @property
    def dates(self) -> tuple[dt.date | None, dt.date | None]:
        """(start_date, end_date) as dates (None: open)."""
        f = self.filters
        return (f.start_date and _date(f.start_date, "start_date"), f.end_date and _date(f.end_date, "end_date"))

    def in_dates(self, date: ir.DateValue) -> ir.BooleanValue:
        """The date test of this scope on a business date (`in_date_range` on its start_date / end_date)."""
        return in_date_range(date, *self.dates)

    def with_dates(self, start=None, end=None) -> "Scope":
        """The same scope over other dates (None, None: every date)."""
        return replace(self, filters=replace(self.filters, start_date=start, end_date=end))

    def with_filters(self, **fields) -> "Scope":
        """The same scope with these filter fields replaced, e.g. `with_filters(source="web")`."""
        return replace(self, filters=as_filters({**asdict(self.filters), **fields}))

    def describe(self) -> dict:
        """The non-empty filters, for a result's definition."""
        return self.filters.describe()

    def table(self, name: str) -> ir.Table:
        """A canonical table; under identity="person" its customer_id is the linked person_id."""
        t = self.con.table(name)
        if self.filters.identity in (None, "customer"):
            return t
        if self.filters.identity != "person":
            raise FilterError(one_of("identity", self.filters.identity, IDENTITIES))
        if "persons" not in self.con.list_tables():
            raise FilterError("identity='person' needs the persons table: add an `identity:` block to the ingest "
                              "config (README, Identity across silos) and run `cjw ingest` again.")
        p = self.con.table("persons")
        j = t.left_join(p, t.customer_id == p.customer_id)
        return j.mutate(customer_id=ibis.coalesce(j.person_id, j.customer_id)).select(*t.columns)

    def _customer_ids(self, *, segment: bool = True) -> ir.Table | None:
        """`customer_id` of the customers matching segment (unless segment=False), attributes and
        persona; None when those filters are empty."""
        f = self.filters
        if not (f.attributes or f.persona or (segment and f.segment)):
            return None
        self.table("customers")   # an unknown identity, or "person" without a persons table: the error here
        cust = self.con.table("customers")   # the records' own fields (persona rules read these); persons below
        if f.segment and segment:
            cust = cust.filter(cust.segment.isin(_values(f.segment)))
        for key, value in f.attributes.items():
            cust = cust.filter(cust.attributes[str(key)].isin(_strs(value)))
        if f.persona:
            from .designs.personas import persona_of   # personas builds on customers only; imported on use
            from .designs.store import design   # no rules passed: the database's (DesignMissingError if none)

            who = persona_of(self.con, f.personas or design(self.con, "personas"))
            cust = cust.semi_join(who.filter(who.persona.isin(_strs(f.persona))), "customer_id")
        ids = cust.select("customer_id")
        if f.identity != "person":
            return ids
        p = self.con.table("persons")   # identity="person": the persons of the matching records
        j = ids.left_join(p, ids.customer_id == p.customer_id)
        return j.select(customer_id=ibis.coalesce(j.person_id, j.customer_id)).distinct()

    def _of_customers(self, t: ir.Table, **kw) -> ir.Table:
        ids = self._customer_ids(**kw)
        return t if ids is None else t.semi_join(ids, "customer_id")

    def events(self) -> ir.Table:
        """Events after all filters (EVENT_RULE), with `journey_key`, the unit every analysis groups by."""
        f = self.filters
        ev = self.table("events")
        for name in EVENT_FILTERS:
            if getattr(f, name):
                ev = ev.filter(ev[name].isin(_values(getattr(f, name))))
        ev = self._of_customers(keyed(ev, check_unit(self.unit)))
        if any(self.dates):
            starts = ev.group_by("journey_key").aggregate(first_date=ev.event_date.min())
            ev = ev.semi_join(starts.filter(self.in_dates(starts.first_date)).select("journey_key"), "journey_key")
        if f.has_activity:
            having = ev.filter(ev.activity.isin(_values(f.has_activity))).select("journey_key").distinct()
            ev = ev.semi_join(having, "journey_key")
        return ev

    def history(self) -> ir.Table:
        """The scoped customers' whole event histories with `journey_key`: customer-level filters
        only, no date or event-level cut (facts and "the event before an answer" are facts)."""
        return self._of_customers(keyed(self.table("events"), check_unit(self.unit)))

    def customers(self) -> ir.Table:
        """Rows of `customers` in scope: the matching customers, and when an event-level, date or
        has_activity filter is set, only those with at least one scoped event."""
        f = self.filters
        cust = self._of_customers(self.table("customers"))
        if f.has_event_filters or any(self.dates) or f.has_activity:
            cust = cust.semi_join(self.events().select("customer_id"), "customer_id")
        return cust

    def feedback(self, instrument=None, *, scored: bool = False) -> ir.Table:
        """Feedback answers in scope, read as FEEDBACK_RULE says (one reading for every analysis);
        `instrument` narrows to those instruments, `scored` to answers with a score."""
        f = self.filters
        fb = self.table("feedback")
        if instrument:
            fb = fb.filter(fb.instrument.isin(_strs(instrument)))
        if scored:
            fb = fb.filter(fb.score.notnull())
        if any(self.dates):
            fb = fb.filter(self.in_dates(fb.feedback_date))
        for name in ANSWER_FIELDS:
            if getattr(f, name):
                fb = fb.filter(fb[name].isin(_strs(getattr(f, name))))
        fb = self._of_customers(fb)
        if f.device or f.activity:
            ev = self.table("events")
            such = ev.filter(ibis.and_(*[ev[n].isin(_values(getattr(f, n))) for n in ("device", "activity")
                                         if getattr(f, n)]))
            fb = fb.semi_join(such.select("customer_id").distinct(), "customer_id")
        if f.has_activity:
            ev = self.table("events")
            such = ev.filter(ev.activity.isin(_values(f.has_activity)))
            fb = fb.semi_join(such.select("customer_id").distinct(), "customer_id")
        return fb

    # Journeys: the stored derived tables when the filters allow it (unit journey, loops kept, no
    # event-level filter, tables present), else the same expressions (`cjworkbench.model`) computed
    # on the scoped events. The choice is made here, once.
    def stored(self, loops: str = "keep") -> bool:
        """Whether `steps` / `journeys` read the stored derived tables: only when they give the same
        journeys as computing on the scoped events. A customer filter cuts a journey shared by
        several customers (a campaign id used as journey_id) to its matching customers' events,
        which a stored row cannot do, so such databases compute under customer filters."""
        if not (self.unit == "journey" and loops == "keep" and not self.filters.has_event_filters
                and self.filters.identity in (None, "customer")
                and set(DERIVED) <= set(self.con.list_tables())):
            return False
        return not (self.filters.has_customer_filters and shared_journeys(self.con))

    def _stored_cut(self, t: ir.Table, start_col: str) -> ir.Table:
        """Customer-level and journey-start filters on a stored table (segment is a column there)."""
        f = self.filters
        if f.segment:
            t = t.filter(t.segment.isin(_values(f.segment)))
        t = self._of_customers(t, segment=False)
        if any(self.dates):
            t = t.filter(self.in_dates(t[start_col]))
        if f.has_activity:
            st = self.con.table("journey_steps")
            t = t.semi_join(st.filter(st.activity.isin(_values(f.has_activity))).select("journey_key").distinct(),
                            "journey_key")
        return t

    def steps(self, loops: str = "keep") -> tuple[ir.Table, bool]:
        """Journey-ordered scoped events (see `with_steps`), and whether `first_for_customer` is
        exact for them: always when computed here, on the stored table only when the filters
        keep whole customers (a date filter on journey starts does not)."""
        if self.stored(loops):
            return self._stored_cut(self.con.table("journey_steps"), "journey_start_date"), not any(self.dates)
        return with_steps(self.events(), loops), True

    def journeys(self, loops: str = "keep") -> ir.Table:
        """One row per scoped journey with its `variant`, `n_steps`, start and end."""
        if self.stored(loops):
            return self._stored_cut(self.con.table("journeys"), "start_date")
        return traces(self.steps(loops)[0]).drop("trace")


def scope(con, filters: Filters | dict | Scope | None = None, *, unit: str = "journey") -> Scope:
    """The Scope of `filters` (a Filters, a dict of its fields, a Scope or None) and `unit` on `con`."""
    return Scope(con, as_filters(filters), check_unit(unit))




def shared_journeys(con) -> bool:
    """Whether any stored journey holds events of more than one customer (checked once per connection)."""
    def check() -> bool:
        st = con.table("journey_steps")
        per = st.group_by("journey_key").aggregate(n=st.customer_id.nunique())
        return bool(per.filter(per.n > 1).count().execute())

    return remember(con, "object", "shared_journeys", check)
