"""Each silo's export, in that silo's own conventions: names, delimiters, encodings, clocks.

| file | convention |
|---|---|
| crm_customers.csv | `;`-delimited, latin-1, dates dd-mm-yyyy |
| web_clickstream.csv.gz | gzip CSV, naive Europe/Amsterdam wall-clock time |
| orders.parquet | tz-aware UTC timestamps |
| deliveries.jsonl | JSON lines, ISO times with the local offset |
| contact_cases.csv | ISO times with +01:00 / +02:00, raw channel and queue codes |
| marketing_emails.csv | US dates (mm/dd/yyyy) in UTC, e-mail tool column names |
| nps_survey.xlsx | Excel date cells in local time |
| csat_survey.csv / ces_survey.csv | ISO UTC with Z / dd-mm-yyyy HH:MM local |

Every writer returns the number of data lines (or rows) it wrote, header excluded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .campaigns import EVENTS, REMINDER, campaign_calendar
from .cases import ACTIONS, CHANS, QUEUES, REASONS
from .clickstream import DEVICES, INTERNAL, PAGES, REFERRERS, SITE
from .files import sql_list, write_latin1_csv, write_lines
from .xlsx import write_xlsx
from .mess import BAD_TIMESTAMPS
from .identity import caller_sql
from .people import customer_numbers
from .purchases import ORDER_CHANNELS
from .surveys import NPS_TOUCHPOINTS
from .timeline import Window, to_local, utc_offset

CUST_NO = "'C' || lpad((cust + 1)::VARCHAR, 6, '0')"
ORDER_ID = "'ORD-' || lpad((order_no + 1)::VARCHAR, 8, '0')"
CASE_ID = "'CS' || lpad((case_no + 1)::VARCHAR, 7, '0')"
PAYMENT_METHODS = ("ideal", "creditcard", "paypal", "klarna", "invoice", "card", "cash")


def _local_text(fmt: str, col: str = "local") -> str:
    return f"strftime(make_timestamp({col} * 1000000), '{fmt}')"


def _with_offset(col: str = "local", off: str = "off") -> str:
    return (_local_text("%Y-%m-%dT%H:%M:%S", col)
            + f" || CASE WHEN {off} = 7200 THEN '+02:00' ELSE '+01:00' END")


def crm(path: Path, table: pa.Table) -> int:
    """The CRM master (from `people.crm_table`): `;`-delimited latin-1."""
    write_latin1_csv(table, path, delimiter=";")
    return table.num_rows


def clickstream(con, path: Path, web: dict, user_agents: tuple[str, ...], seed: int) -> int:
    """web: one row per line to write (duplicates already repeated), in file order."""
    con.register("web", pa.table(web))
    pages = sql_list(PAGES)
    ts = (f"CASE WHEN bad >= 0 THEN {sql_list(BAD_TIMESTAMPS)}[bad + 1] "
          f"ELSE {_local_text('%Y-%m-%d %H:%M:%S')} END")
    referrer = (f"CASE WHEN ref >= {INTERNAL} THEN '{SITE}' || {pages}[ref - {INTERNAL} + 1] "
                f"ELSE {sql_list(REFERRERS)}[ref + 1] END")
    ua = sql_list('"' + u + '"' if "," in u else u for u in user_agents)
    # device_id: the device's cookie (a fresh one on some anonymous visits); ip: the home IP (issue #17)
    cookie = (f"substr(md5(CASE WHEN cookie >= 0 THEN 'cookie:{int(seed)}:' || cookie "
              f"ELSE 'device:{int(seed)}:' || cust || ':' || device END), 1, 16)")
    ip = "'10.' || (ip // 65536 % 256) || '.' || (ip // 256 % 256) || '.' || (ip % 256)"
    fields = (f"substr(md5('{int(seed)}:' || sess), 1, 16) AS sid, CASE WHEN anon THEN '' ELSE {CUST_NO} END "
              f"AS cust_no, {ts} AS ts, {sql_list(DEVICES)}[device + 1] AS device, {pages}[page + 1] AS page, "
              f"{referrer} AS referrer, {ua}[ua + 1] AS ua, {cookie} AS device_id, {ip} AS ip")
    line = ("CASE malformed WHEN 1 THEN concat_ws(',', sid, cust_no, ts) "
            "WHEN 2 THEN concat_ws(',', sid, cust_no, ts, device, page, 'undefined', referrer, ua, device_id, ip) "
            "ELSE concat_ws(',', sid, cust_no, ts, device, page, referrer, ua, device_id, ip) END")
    write_lines(con, f"""SELECT line FROM (
        SELECT -1 AS k, 'session_id,cust_no,ts,device,page,referrer,user_agent,device_id,ip' AS line
        UNION ALL SELECT k, {line} FROM (SELECT k, malformed, {fields} FROM web)) ORDER BY k""",
                path, compress=True)
    con.unregister("web")
    return len(web["k"])


def cases(con, path: Path, rows: dict) -> int:
    """rows: one per line (duplicates repeated), with local time, offset and mess codes."""
    con.register("steps", pa.table(rows))
    ts = f"CASE WHEN bad >= 0 THEN {sql_list(BAD_TIMESTAMPS)}[bad + 1] ELSE {_with_offset()} END"
    wait = "CASE WHEN wait >= 0 THEN wait::VARCHAR ELSE '' END"
    fields = (f"{CASE_ID} AS case_id, {caller_sql(CUST_NO)} AS cust_no, {ts} AS step_ts, "
              f"{sql_list(CHANS)}[chan + 1] AS chan, {sql_list(QUEUES)}[queue + 1] AS queue, "
              f"{sql_list(ACTIONS)}[action + 1] AS action, {wait} AS wait_s, "
              "CASE WHEN handle >= 0 THEN handle::VARCHAR ELSE '' END AS handle_s, "
              f"{sql_list(REASONS)}[reason + 1] AS reason")
    line = ("CASE malformed WHEN 1 THEN concat_ws(',', case_id, cust_no, step_ts, chan, queue, action, "
            "wait_s || ',5', handle_s, reason) WHEN 2 THEN concat_ws(',', case_id, cust_no, step_ts, chan) "
            "ELSE concat_ws(',', case_id, cust_no, step_ts, chan, queue, action, wait_s, handle_s, reason) END")
    write_lines(con, f"""SELECT line FROM (
        SELECT -1 AS k, 'case_id,cust_no,step_ts,chan,queue,action,wait_s,handle_s,reason' AS line
        UNION ALL SELECT k, {line} FROM (SELECT k, malformed, {fields} FROM steps)) ORDER BY k""", path)
    con.unregister("steps")
    return len(rows["k"])


def _ids(prefix: str, idx, width: int) -> pa.Array:
    """0 -> 'ORD-00000001': one-based, zero-padded identifiers; null where idx < 0."""
    idx = np.asarray(idx)
    return pc.binary_join_element_wise(
        prefix, pc.utf8_lpad(pa.array(idx + 1, mask=idx < 0).cast(pa.string()), width, "0"), "")


def orders(path: Path, o: dict, rng, guests: dict) -> int:
    """Order header table from the order system (Parquet, UTC); guest checkouts (`demo.identity`)
    have no customer_ref but the guest's e-mail, name and phone as typed."""
    n = o["cust"].size
    online = rng.choice(4, n, p=(.55, .2, .15, .1))  # ideal, creditcard, paypal, klarna
    method = np.choose(o["channel"], [online, online, rng.choice([4, 1], n, p=(.7, .3)),
                                      rng.choice([5, 6], n, p=(.8, .2))])
    store = _ids("ST", rng.integers(10, 40, n), 2)
    table = pa.table({
        "order_id": _ids("ORD-", np.arange(n), 8),
        "customer_ref": pc.if_else(pa.array(guests["guest"]), pa.scalar(None, pa.string()), customer_numbers(o["cust"])),
        "ordered_at": pa.array(o["ts"] * 1_000_000).cast(pa.timestamp("us", tz="UTC")),
        "channel": pa.array(ORDER_CHANNELS).take(o["channel"]),
        "amount_eur": o["amount"], "n_items": o["n_items"].astype(np.int32),
        "payment_method": pa.array(PAYMENT_METHODS).take(method),
        "store_id": pc.if_else(pa.array(o["channel"] == 3), store, pa.scalar(None, pa.string())),
        **{c: guests[c] for c in ("guest_email", "guest_name", "guest_phone")},
    })
    pq.write_table(table, path, compression="snappy")
    return n


def deliveries(con, path: Path, parcels: dict, win: Window) -> int:
    """Carrier scan events as JSON lines: shipped and delivered, local time with offset."""
    n = parcels["order"].size
    ev = np.repeat([0, 1], n)
    ts = np.concatenate([parcels["shipped"], parcels["delivered"]])
    keep = np.flatnonzero(ts < win.end)
    keep = keep[np.lexsort((ev[keep], ts[keep]))]
    both = lambda a: np.concatenate([a, a])[keep]  # noqa: E731
    late = np.concatenate([np.zeros(n, np.int64), parcels["days_late"]])[keep]
    con.register("d", pa.table({
        "k": np.arange(keep.size), "order_no": both(parcels["order"]), "cust": both(parcels["cust"]),
        "event": ev[keep], "local": to_local(ts[keep]), "off": utc_offset(ts[keep]),
        "promised_day": both(parcels["promised_day"]), "carrier": both(parcels["carrier"]),
        "days_late": pa.array(late, mask=ev[keep] == 0)}))
    con.execute(f"""COPY (SELECT {ORDER_ID} AS order_id, {CUST_NO} AS customer_ref,
        ['shipped', 'delivered'][event + 1] AS event, {_with_offset()} AS at,
        strftime(DATE '1970-01-01' + promised_day::INTEGER, '%Y-%m-%d') AS promised_date, days_late,
        ['PostNL', 'DHL'][carrier + 1] AS carrier FROM d ORDER BY k) TO '{_q(path)}' (FORMAT json)""")
    con.unregister("d")
    return int(keep.size)


def marketing(con, path: Path, e: dict, crm_emails: pa.Array, win: Window) -> int:
    """The e-mail tool's tracking export: one row per send, open, click or unsubscribe."""
    cal = [*campaign_calendar(win), REMINDER]   # the E9 reminder is the campaign after the calendar
    con.register("e", pa.table({"k": np.arange(e["cust"].size),
                                **{c: e[c] for c in ("campaign", "cust", "event", "ts")}}))
    con.register("who", pa.table({"idx": np.arange(len(crm_emails)), "email": crm_emails}))
    ids, names = sql_list(c[0] for c in cal), sql_list(c[1] for c in cal)
    con.execute(f"""COPY (SELECT {CUST_NO} AS SubscriberKey, who.email AS EmailAddress,
        {ids}[campaign + 1] AS CampaignID, {names}[campaign + 1] AS CampaignName,
        {sql_list(EVENTS)}[event + 1] AS EventType, {_local_text('%m/%d/%Y %H:%M:%S', 'ts')} AS EventDate,
        CASE WHEN event = 2 THEN '{SITE}/promo?utm_campaign=' || {ids}[campaign + 1] ELSE NULL END AS LinkURL
        FROM e JOIN who ON who.idx = e.cust ORDER BY k) TO '{_q(path)}' (FORMAT csv, HEADER true)""")
    con.unregister("e")
    con.unregister("who")
    return int(e["cust"].size)


def nps(path: Path, a: dict, stamp: dt.datetime) -> int:
    """The survey tool's Excel download: one row per answer, local date-time cells."""
    n = a["cust"].size
    write_xlsx(path, "NPS", {
        "resp_id": _ids("NPS-", np.arange(n), 6), "cust_no": customer_numbers(a["cust"]),
        "touchpoint": pa.array(NPS_TOUCHPOINTS).take(a["touchpoint"]),
        "order_ref": _ids("ORD-", a["order"], 8),
        "sent_on": to_local(a["sent"]).astype("datetime64[s]"),
        "answered_on": to_local(a["answered"]).astype("datetime64[s]"),
        "ltr": a["ltr"], "ease": a["ease"], "value": a["value"],
        "delivery": pa.array(np.nan_to_num(a["delivery"]).astype(np.int8), mask=np.isnan(a["delivery"])),
        "comment": a["comment"],
    }, stamp)
    return n


def case_survey(con, path: Path, a: dict, case_no: np.ndarray, cust: np.ndarray, instrument: str) -> int:
    """CSAT (ISO UTC with Z, 1-5) or CES (dd-mm-yyyy HH:MM local, effort 1-7) answers."""
    con.register("s", pa.table({"k": np.arange(case_no.size), "case_no": case_no, "cust": cust,
                                "sent": a["sent"], "answered": a["answered"], "local_sent": to_local(a["sent"]),
                                "local_answered": to_local(a["answered"]), "score": a["score"],
                                "verbatim": a["comment"]}))
    if instrument == "csat":
        times, score = [_local_text("%Y-%m-%dT%H:%M:%SZ", c) for c in ("sent", "answered")], "csat"
    else:
        times, score = [_local_text("%d-%m-%Y %H:%M", c) for c in ("local_sent", "local_answered")], "effort"
    con.execute(f"""COPY (SELECT '{instrument.upper()}-' || lpad((k + 1)::VARCHAR, 7, '0') AS response_id,
        {CASE_ID} AS case_id, {CUST_NO} AS cust_no, {times[0]} AS sent_ts, {times[1]} AS answered_ts,
        score AS {score}, verbatim FROM s ORDER BY k) TO '{_q(path)}' (FORMAT csv, HEADER true)""")
    con.unregister("s")
    return int(case_no.size)


def _q(path: Path) -> str:
    return str(path).replace("'", "''")
