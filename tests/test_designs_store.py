"""The database carries its designs: config -> ingest -> `designs` table -> `design()`, checked against
the events at ingest, replaced alone by `cjw designs`, read by the faces wherever the file goes, and
the defaults built on them (designs first, else the data)."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

import cjworkbench
from cjworkbench.cli import main as cjw
from cjworkbench.designs.defaults import default_funnel, default_goal, instruments_present
from cjworkbench.designs.store import business_timezone, design, design_names, has_design, languages
from cjworkbench.errors import ConfigError, DesignError, DesignMissingError
from cjworkbench.ingest import run_ingest

from .conftest import write_config

ROOT = Path(__file__).resolve().parents[1]

# one customer's events, hand-made: two journeys, UTC timestamps; j2's last event is 23:30 UTC on
# 2026-03-31, which is 2026-04-01 01:30 in Amsterdam (summer time)
EVENTS = """customer,journey,ts,activity
c1,j1,2026-03-02T09:00:00Z,checkout_start
c1,j1,2026-03-02T09:05:00Z,checkout_payment
c1,j1,2026-03-02T09:06:00Z,checkout_confirmed
c2,j2,2026-03-31T23:00:00Z,checkout_start
c2,j2,2026-03-31T23:30:00Z,view_help
c3,j3,2026-03-10T12:00:00Z,view_help
"""


def _config(folder: Path, designs: dict, **top) -> Path:
    (folder / "events.csv").write_text(EVENTS)
    src = {"name": "web", "kind": "events", "path": "events.csv",
           "columns": {"customer_id": "customer", "journey_id": "journey", "event_ts": "ts", "activity": "activity"}}
    return write_config(folder, [src], designs=designs, **top)


def _counts(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        out = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "customers", "feedback")}
        out["ingest_runs"] = con.execute("SELECT * FROM ingest_runs ORDER BY run_id, source").fetchall()
        out["designs"] = con.execute("SELECT kind, name, body FROM designs ORDER BY kind, name").fetchall()
    return out


FUNNEL = {"checkout": {"steps": ["checkout_start", "checkout_payment", "checkout_confirmed"], "window": "2h"}}


def test_round_trip_on_the_demo_equals_the_yaml(demo_db):
    db, _ = demo_db
    con = cjworkbench.connect(db)
    designed = db.parent / "designed"
    assert design(con, "journeys", "onboarding") == yaml.safe_load((designed / "onboarding.yml").read_text())
    for kind in ("personas", "kpi_map", "themes", "actions"):
        assert design_names(con, kind) == [kind]
        assert design(con, kind) == yaml.safe_load((designed / f"{kind}.yml").read_text()), kind
    config = yaml.safe_load((db.parent / "cjworkbench.yml").read_text())
    assert design(con, "funnels", "checkout") == config["designs"]["funnels"]["checkout"] == {
        "steps": ["checkout_start", "checkout_payment", "checkout_confirmed"], "window": "2h"}
    assert design(con, "goal") == "checkout_confirmed"
    assert set(design(con, "instruments")) == {"nps", "csat", "ces"}
    assert business_timezone(con) == "Europe/Amsterdam" and languages(con) == ["en", "nl"]
    assert not has_design(con, "roles")
    assert design(con, "targets") == config["designs"]["targets"] == {
        "on_time_delivery": 0.85, "repeat_contact_rate": 0.15, "checkout_abandonment": 0.30, "nps": 20}
    with pytest.raises(DesignMissingError, match=r"no KPI roles\. Add `designs: roles:` to the ingest config"):
        design(con, "roles")
    with pytest.raises(DesignMissingError, match="named 'onbording'.*Did you mean 'onboarding'"):
        design(con, "journeys", "onbording")
    with pytest.raises(DesignError, match="Unknown design kind 'funnel'.*Did you mean 'funnels'"):
        design(con, "funnel")
    # the analyses take the stored bodies as they took the files
    from_file = cjworkbench.kpi_map_table(con, kpi_map=designed / "kpi_map.yml")
    from_db = cjworkbench.kpi_map_table(con, kpi_map=design(con, "kpi_map"))
    pd.testing.assert_frame_equal(from_file, from_db)


def test_defaults_on_the_demo(demo_db):
    db, _ = demo_db
    con = cjworkbench.connect(db)
    assert default_funnel(con) == ("checkout", ["checkout_start", "checkout_payment", "checkout_confirmed"], "2h")
    assert default_goal(con) == "checkout_confirmed"
    answered = con.table("feedback").execute()["instrument"].unique()
    assert instruments_present(con) == [i for i in ("nps", "csat", "ces", "review", "complaint", "social")
                                        if i in answered] == ["nps", "csat", "ces"]


def test_a_moved_database_still_gives_the_panel_its_personas(demo_db, tmp_path):
    from cjworkbench import controls
    from cjworkbench.designs.personas import load_personas, persona_of

    db, _ = demo_db
    moved = tmp_path / "elsewhere" / "company.duckdb"
    moved.parent.mkdir()
    shutil.copy(db, moved)
    assert not (moved.parent / "designed").exists()
    expected = list(load_personas(db.parent / "designed" / "personas.yml").names)
    panel = controls.panel(str(moved), persona="traditional", interactive=False, renderer="svg")
    assert panel.persona_names() == expected and expected[0] == "traditional"
    f = panel.filters
    assert f.persona == "traditional" and f.personas is None   # the scope reads the database's rules
    who = persona_of(panel.con, db.parent / "designed" / "personas.yml").execute()
    mine = set(who.loc[who["persona"] == "traditional", "customer_id"])
    got = cjworkbench.personas_table(panel.con, personas=panel.design("personas"))
    assert set(got.loc[got["persona"] == "traditional", "n_customers"]) == {len(mine)} and len(mine) > 0
    view = controls.View(panel, cjworkbench.personas_table, None, options={"personas": controls.designed("personas")})
    shown = view.result()
    assert set(shown.loc[shown["persona"] == "traditional", "n_customers"]) == {len(mine)}
    scoped = cjworkbench.variants_table(panel.con, top=None, filters=f)   # the persona filter, rules from the db
    ev = panel.con.table("events").select("customer_id", "journey_id").execute()
    assert scoped["n_journeys"].sum() == ev[ev["customer_id"].isin(mine)]["journey_id"].fillna(
        ev["customer_id"]).nunique()
    legacy = controls.View(panel, cjworkbench.personas_table, None, options={"personas": controls.designed("personas.yml")})
    assert legacy._values("options")["personas"] == design(panel.con, "personas")


def test_unknown_activity_fails_the_ingest_and_keeps_the_previous_database(tmp_path):
    db = tmp_path / "db.duckdb"
    run_ingest(_config(tmp_path, {"funnels": FUNNEL, "goal": "checkout_confirmed"}), db)
    before, digest = _counts(db), hashlib.sha256(db.read_bytes()).hexdigest()
    assert before["events"] == 6
    bad = {"funnels": {"checkout": {"steps": ["checkout_strat", "checkout_payment"]}}, "goal": "checkout_confirmed"}
    with pytest.raises(DesignError) as err:
        run_ingest(_config(tmp_path, bad), db)
    text = str(err.value)
    assert "designs: funnels 'checkout' names activity 'checkout_strat'" in text
    assert "nearest: checkout_start" in text and "previous database is untouched" in text
    assert _counts(db) == before and hashlib.sha256(db.read_bytes()).hexdigest() == digest
    assert not list(tmp_path.glob(".db.duckdb.building-*"))
    # a journey design, roles and actions are checked the same way
    journey = {"journey": "buy", "starts_with": "checkout_start",
               "stages": [{"name": "buy", "steps": [{"name": "Pay", "activity": "checkout_paid"}]}]}
    for designs, named in (({"journeys": {"buy": journey}}, "journeys 'buy' names activity 'checkout_paid'"),
                           ({"roles": {"goal": "order_placed"}}, "roles 'roles' names activity 'order_placed'"),
                           ({"actions": {"rules": [{"trigger": {"after": "view_cart"},
                                                   "outcome": {"activity": "checkout_confirmed"}}]}},
                            "actions 'actions' names activity 'view_cart'")):
        with pytest.raises(DesignError, match=named):
            run_ingest(_config(tmp_path, designs), db)
    assert _counts(db) == before


def test_config_mistakes_are_named(tmp_path):
    from cjworkbench.config import load_config

    for designs, match in (({"funnel": FUNNEL}, "Unknown design kind 'funnel'.*Did you mean 'funnels'"),
                           ({"instruments": {"nsp": {"meaning": "x"}}}, "Unknown instrument 'nsp'.*Did you mean 'nps'"),
                           ({"instruments": {"nps": {"meaning": "x", "qestion": "y"}}}, "Did you mean 'question'"),
                           ({"funnels": {"f": {"steps": ["a", "b"], "window": "2 parsecs"}}}, "window must be a duration"),
                           ({"funnels": {"f": {"steps": ["a"]}}}, "at least two activities"),
                           ({"personas": "designed/nowhere.yml"}, "not found"),
                           ({"targets": {"nps": "high"}}, "targets must be numbers"),
                           ({"themes": {"late": {"keywords": ["late"]}}}, "'late' is neither a path nor a themes "
                                                                            "design.*needs its 'themes:' key")):
        with pytest.raises(ConfigError, match=match):
            load_config(_config(tmp_path, designs))
    with pytest.raises(ConfigError, match="unknown ISO 639-1 code 'eng'"):
        load_config(_config(tmp_path, {}, languages=["en", "eng"]))
    with pytest.raises(DesignError, match="journeys 'x'.*needs 'starts_with'"):
        load_config(_config(tmp_path, {"journeys": {"x": {"journey": "x", "stages": []}}}))
    cfg = load_config(_config(tmp_path, {"goal": "checkout_confirmed"}, languages=["NL", "en"]))
    assert cfg.languages == ("nl", "en") and [(d.kind, d.name, d.body) for d in cfg.designs.items] == [
        ("goal", "goal", "checkout_confirmed")]


def test_cjw_designs_changes_designs_without_touching_the_data(tmp_path, capsys):
    db = tmp_path / "db.duckdb"
    config = _config(tmp_path, {"funnels": FUNNEL, "goal": "checkout_confirmed"}, timezone="UTC")
    run_ingest(config, db)
    before = _counts(db)
    changed = {"funnels": {**FUNNEL, "help": {"steps": ["checkout_start", "view_help"]}}, "goal": "view_help",
               "instruments": {"nps": {"meaning": "loyalty"}}}
    config = _config(tmp_path, changed, timezone="Europe/Amsterdam", languages=["nl"])
    assert cjw(["designs", "--config", str(config), "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "added: funnels/help, instruments/instruments" in out and "goal/goal" in out
    after = _counts(db)
    assert {k: after[k] for k in ("events", "customers", "feedback", "ingest_runs")} == \
        {k: before[k] for k in ("events", "customers", "feedback", "ingest_runs")}
    con = cjworkbench.connect(db)
    assert design(con, "goal") == "view_help" == default_goal(con)
    assert design_names(con, "funnels") == ["checkout", "help"]
    assert business_timezone(con) == "Europe/Amsterdam" and languages(con) == ["nl"]
    # the time zone moved: j2's 23:00 and 23:30 UTC events (2026-03-31) are 2026-04-01 in Amsterdam
    dates = con.table("events").execute().set_index("activity")
    moved = dates[dates["journey_id"] == "j2"]["event_date"].astype(str).tolist()
    assert moved == ["2026-04-01", "2026-04-01"]   # business dates recomputed (ingest.local_time)
    assert dates[dates["journey_id"] == "j1"]["event_date"].astype(str).unique().tolist() == ["2026-03-02"]
    assert "business time zone: UTC -> Europe/Amsterdam (business dates recomputed: {'customers': 0, " \
           "'events': 2, 'feedback': 0})" in out
    # a design naming an unknown activity changes nothing
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    bad = _config(tmp_path, {"goal": "view_halp"})
    assert cjw(["designs", "--config", str(bad), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "names activity 'view_halp'" in err and "nearest: view_help" in err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_a_database_without_designs_reads_as_none(tmp_path):
    db = tmp_path / "db.duckdb"
    run_ingest(_config(tmp_path, {}), db)
    with duckdb.connect(str(db)) as con:
        con.execute("DROP TABLE designs")   # as built before designs were stored
    con = cjworkbench.connect(db)
    assert not has_design(con, "personas") and business_timezone(con) == "UTC" and languages(con) == ["en"]
    with pytest.raises(DesignMissingError, match="no personas. Add `designs: personas:`.*cjw designs"):
        design(con, "personas")
    with pytest.raises(DesignMissingError, match="no personas"):
        cjworkbench.variants_table(con, filters={"persona": "traditional"})
    # the data decides: j1 and j3 end differently, j2 ends on view_help; view_help ends two of three
    assert default_goal(con) == "view_help"
    assert default_funnel(con) == ("most common path", ["checkout_start", "checkout_payment", "checkout_confirmed"],
                                   None)
    assert instruments_present(con) == []


def test_defaults_on_the_real_helpdesk_log(tmp_path, real_data):
    doc = yaml.safe_load((ROOT / "examples" / "real" / "helpdesk.yml").read_text())
    for src in doc["sources"]:
        src["path"] = str((ROOT / "examples" / "real" / src["path"]).resolve())
    doc.pop("designs", None)   # events only: every default comes from the data
    (tmp_path / "helpdesk.yml").write_text(yaml.safe_dump(doc))
    run_ingest(tmp_path / "helpdesk.yml", tmp_path / "helpdesk.duckdb")
    con = cjworkbench.connect(tmp_path / "helpdesk.duckdb")
    ev = con.table("events").select("customer_id", "journey_id", "event_ts", "seq", "activity").execute()
    ev["journey"] = ev["journey_id"].fillna(ev["customer_id"])
    ev = ev.sort_values(["journey", "event_ts", "seq"])
    last = ev.groupby("journey")["activity"].last().value_counts()
    top = sorted(a for a, n in last.items() if n == last.max())[0]
    assert default_goal(con) == top
    variants = ev.groupby("journey")["activity"].agg(tuple).value_counts()
    best = sorted((-n, " → ".join(v), v) for v, n in variants.items() if len(set(v)) >= 2)[0][2]
    name, steps, window = default_funnel(con)
    assert (name, steps, window) == ("most common path", list(dict.fromkeys(best))[:4], None)
    assert instruments_present(con) == []
    print(f"helpdesk: {ev['journey'].nunique():,} journeys; goal {top} ends {last.max():,}; path {steps}")
