"""generate(): simulate the retailer and write its raw exports, ingest config, design and truth."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import DemoOptionError, WorkbenchError  # noqa: F401  (re-exported)
from . import effects as fx
from . import exports
from . import identity
from .cases import QUEUES, steps
from .clickstream import user_agents
from .comments import planted_counts
from .mess import fall_back_hits, row_mess, spring_gap_hits
from .onboarding import design_yaml
from .people import crm_table
from .timeline import HOUR, Window, to_local, utc_offset, window
from .truth import build_truth
from .world import simulate

MIN_CUSTOMERS = 500
DESIGNED = ("personas.yml", "kpi_map.yml", "themes.yml", "actions.yml")  # shipped beside onboarding.yml, copied to designed/


def generate(out_dir, *, customers: int = 20_000, seed: int = 7, end_date: str = "2026-10-31") -> dict:
    """Write the demo exports, cjworkbench.yml, designed/ (onboarding.yml, personas.yml, kpi_map.yml,
    themes.yml, actions.yml) and truth.json.

    Deterministic: the same arguments give byte-identical files. Returns a summary with the
    files written, their data rows and the number of canonical events an ingest should load.
    """
    win = _check(customers, end_date)
    out = Path(out_dir)
    (out / "exports").mkdir(parents=True, exist_ok=True)
    (out / "designed").mkdir(exist_ok=True)
    world = simulate(int(customers), int(seed), win)
    rows, mess = write_exports(out / "exports", world, int(seed), win)
    (out / "cjworkbench.yml").write_text(config_yaml(), encoding="utf-8")
    (out / "designed" / "onboarding.yml").write_text(design_yaml(), encoding="utf-8")
    for name in DESIGNED:
        (out / "designed" / name).write_text(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"),
                                             encoding="utf-8")
    truth = build_truth(world, rows, mess, win, seed=int(seed), customers=int(customers))
    identity.add_truth(truth, world)   # the true customer of every fragmented record (issue #17)
    (out / "truth.json").write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return {"out_dir": str(out), "config": str(out / "cjworkbench.yml"),
            "files": {f"exports/{k}": v for k, v in rows.items()},
            "n_customers": truth["canonical"]["customers"], "n_events": truth["canonical"]["events"],
            "n_feedback": truth["canonical"]["feedback"]}


def _check(customers: int, end_date: str) -> Window:
    if int(customers) < MIN_CUSTOMERS:
        raise DemoOptionError(f"customers must be at least {MIN_CUSTOMERS:,} for the planted effects to show, "
                              f"got {customers}. Use --customers {MIN_CUSTOMERS} or more.")
    try:
        return window(end_date, fx.DRIFT_MONTHS)
    except ValueError:
        raise DemoOptionError(f"end_date must be a date like 2026-10-31, got '{end_date}'.") from None


def config_yaml() -> str:
    """The ingest config for the demo exports (shipped as demo/cjworkbench.yml)."""
    return resources.files(__package__).joinpath("cjworkbench.yml").read_text(encoding="utf-8")


def write_exports(folder: Path, world: dict, seed: int, win: Window) -> tuple[dict, dict]:
    """Write the nine export files; return data rows per file and mess counts per file."""
    rng = np.random.default_rng([seed, 99])
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    crm = identity.unique_emails(crm_table(world["customers"]))   # one customer per CRM e-mail
    rows, mess = {}, {}
    rows["crm_customers.csv"] = exports.crm(folder / "crm_customers.csv", crm)
    web, mess["web_clickstream.csv.gz"], uas = _web_rows(rng, world, win)
    web, world["anonymous"] = identity.anonymous_visits(np.random.default_rng([seed, 17, 2]), web,
                                                        world["customers"]["segment"].size, seed)
    for count in ("data_lines", "valid_rows"):   # anonymous visits: clean lines (issue #17)
        mess["web_clickstream.csv.gz"][count] += world["anonymous"]["lines"]
    rows["web_clickstream.csv.gz"] = exports.clickstream(con, folder / "web_clickstream.csv.gz", web, uas, seed)
    id_rng = np.random.default_rng([seed, 17])   # identity fragmentation: its own draws
    guests, world["guests"] = identity.guest_columns(id_rng, world["orders"], world["customers"], crm["email"])
    rows["orders.parquet"] = exports.orders(folder / "orders.parquet", world["orders"], rng, guests)
    rows["deliveries.jsonl"] = exports.deliveries(con, folder / "deliveries.jsonl", world["parcels"], win)
    case_rows, mess["contact_cases.csv"] = _case_rows(rng, world["cases"])
    case_rows, world["callers"] = identity.fragment_calls(id_rng, case_rows, world["cases"], world["customers"])
    rows["contact_cases.csv"] = exports.cases(con, folder / "contact_cases.csv", case_rows)
    rows["marketing_emails.csv"] = exports.marketing(con, folder / "marketing_emails.csv", world["emails"],
                                                     crm["email"], win)
    nps = world["nps"]
    stamp = dt.datetime.combine(win.end_date, dt.time(23, 0))
    rows["nps_survey.xlsx"] = exports.nps(folder / "nps_survey.xlsx", nps, stamp)
    mess["nps_survey.xlsx"] = planted_counts(nps["comment"])
    a, kase = world["case_answers"], world["cases"]
    for name, sel in (("csat", a["csat"]), ("ces", ~a["csat"])):
        part = {k: (v.filter(pa.array(sel)) if k == "comment" else v[sel]) for k, v in a.items()}
        rows[f"{name}_survey.csv"] = exports.case_survey(con, folder / f"{name}_survey.csv", part, part["case"],
                                                         kase["cust"][part["case"]], name)
        mess[f"{name}_survey.csv"] = planted_counts(part["comment"])
    con.close()
    return rows, mess


def _web_rows(rng, world: dict, win: Window) -> tuple[dict, dict, tuple]:
    """Clickstream lines in file order (by UTC time), with the planted mess and its counts."""
    h, s = world["hits"], world["sessions"]
    first_ts = h["ts"][h["first"]]
    rank = np.empty(first_ts.size, np.int64)
    rank[np.lexsort((np.arange(first_ts.size), first_ts))] = np.arange(first_ts.size)
    order = np.lexsort((h["pos"], h["session"], h["ts"]))
    order = order[h["ts"][order] < win.end]
    sess = h["session"][order]
    cust, device = s["cust"][sess], s["device"][sess]
    local = np.where(h["no_dst"][order], h["ts"][order] + HOUR, to_local(h["ts"][order]))
    uas, ua = user_agents(device, cust)
    eligible = (s["kind"][sess] == 0) & (h["pos"][order] >= 1) & ~h["no_dst"][order]
    m = row_mess(rng, order.size, eligible, "clickstream")
    clean = (m["malformed"] == 0) & (m["bad"] < 0)
    rep = np.repeat(np.arange(order.size), m["copies"])
    web = {"k": np.arange(rep.size), "sess": rank[sess][rep], "cust": cust[rep], "local": local[rep],
           "device": device[rep], "page": h["page"][order][rep], "ref": h["referrer"][order][rep],
           "ua": ua[rep], "bad": m["bad"][rep], "malformed": m["malformed"][rep], "utc": h["ts"][order][rep]}
    return web, {**_line_counts(rep.size, order.size, m),
                 "nonexistent_local_times": spring_gap_hits(local[clean], win),
                 "ambiguous_local_times": fall_back_hits(local[clean], win)}, uas


def _case_rows(rng, cases: dict) -> tuple[dict, dict]:
    """Case-log lines in file order, with the planted mess and its counts."""
    st = steps(cases)
    eligible = (st["action"] == 1) & cases["closed"][st["case"]]
    m = row_mess(rng, st["t"].size, eligible, "cases")
    rep = np.repeat(np.arange(st["t"].size), m["copies"])
    rows = {"k": np.arange(rep.size), "case_no": st["case"][rep], "cust": st["cust"][rep],
            "local": to_local(st["t"])[rep], "off": utc_offset(st["t"])[rep],
            **{c: st[c][rep] for c in ("chan", "queue", "action", "wait", "handle", "reason")},
            "bad": m["bad"][rep], "malformed": m["malformed"][rep]}
    clean = (m["malformed"] == 0) & (m["bad"] < 0)
    return rows, {**_line_counts(rep.size, st["t"].size, m),
                  "unmapped_queue_rows": int((clean & (st["queue"] == QUEUES.index("Q99"))).sum())}


def _line_counts(lines: int, distinct: int, m: dict) -> dict:
    malformed, bad = int((m["malformed"] > 0).sum()), int((m["bad"] >= 0).sum())
    return {"data_lines": int(lines), "duplicate_lines": int(lines - distinct), "malformed_lines": malformed,
            "unparseable_timestamps": bad, "valid_rows": int(distinct - malformed - bad)}
