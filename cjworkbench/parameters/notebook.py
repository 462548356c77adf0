"""The notebooks' parameters: each `# %% tags=["parameters"]` line, its widget and its URL form.

A parameters-cell line is `name = default  # help`, exactly as declared here
(tests/test_parameters.py compares them). `url=True` marks the few a Voilà URL may set
(`?segment=Premium`); the database and the privacy threshold never come from a URL.
"""

from __future__ import annotations

from ..contract import INSTRUMENTS
from .core import Parameter

ALL_NOTEBOOKS = None  # every notebook's parameters cell holds it
FILTERING = ("designed_vs_actual", "funnels_and_gaps", "journey_explorer", "overview", "voc")  # persona filter
DURATION = r"\s*\d+(\.\d*)?\s*(s|secs?|seconds?|m|mins?|minutes?|h|hours?|d|days?|w|weeks?)\s*"
BASELINE_LIST = r"\s*(previous|six_months|year)\s*(,\s*(previous|six_months|year)\s*)*"
STEPS = ""   # the funnel: the database's first named funnel, else its most common path (`designs.defaults`)


def _p(name, type_, default, help_, notebooks=ALL_NOTEBOOKS, **kw) -> Parameter:
    return Parameter(name, type_, default, help_, notebooks=notebooks, **kw)


NOTEBOOK_PARAMETERS: tuple[Parameter, ...] = (
    # the shared panel: database, dates, filters, mode
    _p("db", str, "", "DuckDB file built by `cjw ingest`; empty: the CJW_DB environment variable (`cjw serve` "
       "sets it)"),
    _p("start_date", "date", "", 'first journey start date to include, like "2026-01-01"; empty: from the first',
       label="From", url=True),
    _p("start_date", "date", "", "not used here: the period and end_date set the dates (`cjw report` passes it "
       "to every notebook)", ("what_changed",), label="From", url=True),
    _p("end_date", "date", "", "last journey start date to include (inclusive); empty: up to the last",
       label="To", url=True),
    _p("end_date", "date", "", 'last day of the period, like "2026-06-30"; empty: the last day with events '
       "(`cjw report` sets it)", ("what_changed",), label="To", url=True, aliases=("as_of",)),
    _p("segment", str, "", 'customer segment, e.g. "Premium"; empty: all segments', label="Segment", url=True),
    _p("channel", str, "", 'only events in this channel, e.g. "app"; empty: all channels', label="Channel",
       url=True),
    _p("persona", str, "", 'customers of one designed persona, e.g. "traditional"; empty: all customers',
       FILTERING, label="Persona", url=True),
    _p("persona", str, "", "the persona whose profile is shown; empty: the database's first persona",
       ("personas_and_segments",), label="Persona"),
    _p("interactive", bool, True, "widgets and live charts (Voilà, JupyterLab); False for papermill reports"),
    _p("renderer", str, "jupyter", '"jupyter" (interactive charts) or "svg" (static pictures, for reports)',
       choices=("jupyter", "svg"), url=True),
    _p("k_min", int, 10, "groups with fewer customers than this are not shown", low=1),
    # designed_vs_actual
    _p("journey", str, "", "the designed journey compared with what customers did; empty: the database's first",
       ("designed_vs_actual",)),
    _p("outcome", str, "completion", "what a deviation is judged by: completion, time, nps, csat or ces",
       ("designed_vs_actual",), choices=("completion", "time", "nps", "csat", "ces"), label="Outcome"),
    _p("by", str, "", "compare groups in the deviation chart: persona or segment; empty: no groups",
       ("designed_vs_actual",), choices=("", "persona", "segment"), label="Compare",
       extra={"empty": "(no groups)"}),
    # funnels_and_gaps (steps also what_changed)
    _p("unit", str, "", "what one journey is: session (a visit across channels), journey (one source's id) or "
       "customer; empty: session when the funnel's window is a day or less, else journey", ("funnels_and_gaps",),
       choices=("", "session", "journey", "customer")),
    _p("steps", list, STEPS, "the funnel's activities, in order; empty: the database's first named funnel, else its "
       "most common path",
       ("funnels_and_gaps", "what_changed"), label="Funnel steps, in order", aliases=("funnel_steps",)),
    _p("window", str, "", 'time from entering the funnel to reach the last step, like "7d" or "2h"; empty: the '
       "named funnel's window, else no limit", ("funnels_and_gaps",), pattern=DURATION),
    _p("at_step", int, 3, "the funnel step whose drop-outs are followed (2 or later)", ("funnels_and_gaps",),
       low=2, high=8, label="Dropped before step", aliases=("dropoff_step",)),
    _p("dimension", str, "channel", "what a hand-off switches: channel, device or department",
       ("funnels_and_gaps",), choices=("channel", "device", "department"), label="Switch of"),
    _p("outcome_activity", str, "", "the goal a switch may help or hurt; empty: the database's goal, else the most "
       "common last activity of journeys", ("funnels_and_gaps",), label="Goal"),
    # journey_explorer
    _p("top_transitions", int, 20, "transitions drawn on the process map (the busiest)", ("journey_explorer",),
       low=5, high=60, label="Transitions shown"),
    _p("rare_percent", int, 1, "activities with fewer than this % of events are drawn as one (other) node on the "
       "process map; 0: every activity", ("journey_explorer",), low=0, high=20, label="Group activities under (%)"),
    _p("top_variants", int, 12, "most common journeys listed", ("journey_explorer",), low=3, high=30,
       label="Journeys listed"),
    _p("max_steps", int, 8, "steps shown in the step matrix", ("journey_explorer",), low=3, high=15, label="Steps"),
    _p("anchor", str, "", "activity whose following paths are shown; empty: the first step of the database's "
       "funnel", ("journey_explorer",), label="After"),
    # overview
    _p("top_hotspots", int, 12, "hotspots listed per kind (activities, transitions, rework loops)", ("overview",),
       low=5, high=30, label="Hotspots per kind"),
    # voc, personas_and_segments, what_changed
    _p("instrument", str, "", "the feedback shown: nps, csat, ces, review, complaint or social; empty: the first "
       "the database has", ("voc",), choices=("", *INSTRUMENTS), label="Feedback"),
    _p("period", str, "month", "the period of cohorts, trends and reports: day, week, month, quarter or year",
       ("personas_and_segments", "voc", "what_changed"), choices=("day", "week", "month", "quarter", "year"),
       label="Period"),
    # actions (attribution, next-best-action back-test, time to event)
    _p("conversion", str, "", 'the activity that counts as a conversion, like "checkout_confirmed"; empty: the most '
       "common last activity of journeys", ("actions",), label="Conversion",
       extra={"empty": "(most common last activity)"}),
    _p("model", str, "markov", "attribution model: first, last, linear, time_decay, position, markov or shapley",
       ("actions",), choices=("first", "last", "linear", "time_decay", "position", "markov", "shapley"),
       label="Attribution model"),
    _p("lookback_days", int, 30, "days of touches before a conversion that count towards it", ("actions",),
       low=1, high=180, label="Lookback (days)"),
    _p("rules", str, "", "next-best-action rules to back-test: the name of an `actions` design the database "
       "carries; empty: the first it carries, else one rule derived from the data", ("actions",)),
    _p("start", str, "", 'activity that starts the clock for time to conversion, like "signup"; empty: each '
       "customer's first event", ("actions",), label="Clock starts at", extra={"empty": "(first event)"}),
    _p("by", str, "segment", "compare time to conversion by segment, start_channel, start_device, variant or handoff",
       ("actions",), choices=("segment", "start_channel", "start_device", "variant", "handoff"), label="Compare by"),
    # what_changed
    _p("baseline", str, "previous, six_months", "compare with: previous, six_months and/or year, comma-separated",
       ("what_changed",), pattern=BASELINE_LIST),
    _p("drivers", list, ["csat", "ces"], "survey outcomes whose driver effects are compared; [] to skip (the "
       "slowest part)", ("what_changed",), choices=("nps", "csat", "ces")),
    _p("themes", str, "", "theme taxonomy for theme impact on NPS: the name of a `themes` design the database "
       "carries; empty: the first it carries", ("voc", "what_changed")),
    _p("top", int, 15, "figures in the chart and the table", ("what_changed",), low=1),
    _p("min_n", int, 30, "compare a figure only when both periods have at least this many journeys or answers",
       ("what_changed",), low=1),
)
