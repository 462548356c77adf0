"""Sessions: clickstream events of a customer split by inactivity, with bots recognised and left out.

A new session starts at a customer's first event and whenever the gap to the customer's previous
event (in (event_ts, seq) order) exceeds `gap_minutes` (exactly `gap_minutes` stays in the same
session). Portable: a lag for the gap and a cumulative sum of "new session" flags for the
number. A customer is a bot when any of their events has a user agent matching a bot pattern
(case-insensitive regex) or, if `max_events_per_minute` is set, when they had more events than
that in one calendar minute.
"""

from __future__ import annotations

import re

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...scope import TIE_RULE, FilterError, definition, epoch, scope

USER_AGENT_KEY = "user_agent"
DEFAULT_BOT_PATTERNS = (
    "bot", "crawl", "spider", "slurp", "archiver", "ezooms", "facebookexternalhit",
    "feedparser", "feedburner", "feedfetcher", "feedbin", "tiny tiny rss", "rss reader",
    "curl/", "wget", "python-requests", "python-urllib", "libwww", "httpclient", "go-http-client",
    "java/", "scrapy", "headlesschrome", "phantomjs", "chef client", "^-$",
)
SESSION_COLUMNS = ["session_id", "customer_id", "session_number", "start_ts", "end_ts", "n_events",
                   "duration_seconds", "is_bot"]


def user_agent(ev: ir.Table) -> ir.StringValue:
    """The user agent of each event: `attributes['user_agent']`, else `device`."""
    return ev.attributes.get(USER_AGENT_KEY).fill_null(ev.device)


def bot_pattern(bot_patterns=DEFAULT_BOT_PATTERNS) -> str:
    """One case-insensitive regex matching any of the patterns (checked here, so the engine never
    sees a broken one)."""
    patterns = [bot_patterns] if isinstance(bot_patterns, str) else list(bot_patterns)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise FilterError(f"Bot pattern '{p}' is not a valid regular expression ({exc}). "
                              "Escape special characters with a backslash, e.g. 'c\\+\\+'.") from None
    return "(?i)(" + "|".join(f"(?:{p})" for p in patterns) + ")" if patterns else "(?!)"


def bot_customers(ev: ir.Table, *, bot_patterns=DEFAULT_BOT_PATTERNS,
                  max_events_per_minute: int | None = None) -> ir.Table:
    """Distinct `customer_id` of the customers recognised as bots in `ev`."""
    hits = ev.filter(user_agent(ev).re_search(bot_pattern(bot_patterns)))
    bots = hits.select("customer_id").distinct()
    if max_events_per_minute is not None:
        per = ev.group_by(["customer_id", ev.event_ts.truncate("m").name("minute")]).aggregate(n=ev.count())
        fast = per.filter(per.n > max_events_per_minute).select("customer_id")
        bots = bots.union(fast, distinct=True)
    return bots


def sessionised_events(con, *, gap_minutes: float = 30, exclude_bots: bool = True,
                       bot_patterns=DEFAULT_BOT_PATTERNS, max_events_per_minute: int | None = None,
                       source=None, filters=None) -> ir.Table:
    """Filtered events with `is_bot`, `session_number` (1, 2, … per customer) and `session_id`
    (customer_id#number), and `journey_key` set to the session, so sessions can serve as the
    journey unit of other analyses. Bot customers are dropped when `exclude_bots`."""
    if not isinstance(gap_minutes, (int, float)) or isinstance(gap_minutes, bool) or gap_minutes <= 0:
        raise FilterError(f"gap_minutes must be a positive number of minutes, got {gap_minutes!r}.")
    sc = scope(con, filters, unit="customer")
    ev = (sc if source is None else sc.with_filters(source=source)).events()
    bots = bot_customers(ev, bot_patterns=bot_patterns, max_events_per_minute=max_events_per_minute)
    bots = bots.select(bot_customer=bots.customer_id, flag=ibis.literal(True))
    j = ev.left_join(bots, ev.customer_id == bots.bot_customer)
    # columns by name on the join: `ev.customer_id` there resolved to the right side's (NULL) key
    # once `ev` held a semi-join (a filtered scope), losing every customer id
    ev = j.select(*[c for c in ev.columns if c != "journey_key"], is_bot=j.flag.fill_null(False))
    if exclude_bots:
        ev = ev.filter(~ev.is_bot)
    w = ibis.window(group_by="customer_id", order_by=["event_ts", "seq"])
    gap = epoch(ev.event_ts) - epoch(ev.event_ts.lag().over(w))
    ev = ev.mutate(new_session=(gap.isnull() | (gap > gap_minutes * 60)).cast("int64"))
    ev = ev.mutate(session_number=ev.new_session.cumsum().over(w)).drop("new_session")
    session_id = ev.customer_id.concat("#", ev.session_number.cast("string"))
    return ev.mutate(session_id=session_id, journey_key=session_id)


def sessions(con, **options) -> ir.Table:
    """One row per session (see SESSION_COLUMNS), kept on the engine; options as `sessions_table`."""
    ev = sessionised_events(con, **options)
    s = ev.group_by(["session_id", "customer_id", "session_number", "is_bot"]).aggregate(
        start_ts=ev.event_ts.min(), end_ts=ev.event_ts.max(), n_events=ev.count())
    s = s.mutate(duration_seconds=epoch(s.end_ts) - epoch(s.start_ts))
    return s.select(*SESSION_COLUMNS)


def sessions_table(con, *, gap_minutes: float = 30, exclude_bots: bool = True,
                   bot_patterns=DEFAULT_BOT_PATTERNS, max_events_per_minute: int | None = None,
                   source=None, filters=None) -> pd.DataFrame:
    """Sessions with start, end, events, duration and bot flag, ordered by customer and start;
    `attrs['definition']` counts the bot customers and events recognised (and left out)."""
    options = dict(gap_minutes=gap_minutes, bot_patterns=bot_patterns, source=source, filters=filters,
                   max_events_per_minute=max_events_per_minute)
    df = sessions(con, exclude_bots=exclude_bots, **options).order_by(["customer_id", "session_number"]).execute()
    every = sessionised_events(con, exclude_bots=False, **options)
    bot = every.filter(every.is_bot)
    n_bot = bot.aggregate(n_customers=bot.customer_id.nunique(), n_events=bot.count()).execute().iloc[0]
    sc = scope(con, filters)
    return definition(df, analysis="sessions", gap_minutes=gap_minutes, exclude_bots=exclude_bots,
                      session_rule=f"new session at a customer's first event and after a gap of more than "
                                   f"{gap_minutes} minutes ({gap_minutes * 60:g} s) since their previous event",
                      bot_rule="a customer is a bot when any event's user agent (attributes['user_agent'], "
                               "else device) matches a pattern, case-insensitive" + (
                                   f", or with more than {max_events_per_minute} events in one minute"
                                   if max_events_per_minute is not None else ""),
                      bot_patterns=list([bot_patterns] if isinstance(bot_patterns, str) else bot_patterns),
                      n_sessions=len(df), n_bot_customers=int(n_bot["n_customers"]),
                      n_bot_events=int(n_bot["n_events"]), tie_rule=TIE_RULE, unit="customer",
                      filters=(sc.with_filters(source=source) if source else sc).describe())
