"""Privacy in outputs: small groups suppressed at exactly k, no personal column survives."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from cjworkbench.errors import WorkbenchError
from cjworkbench.privacy import PrivacyError, is_personal, mask_personal, suppress_small, suppression_note


def _groups() -> pd.DataFrame:
    df = pd.DataFrame({
        "segment": ["A", "B", "C", "D", "E", "F"],
        "step": [1, 2, 3, 4, 5, 6],                      # a label: never blanked
        "n_customers": [9, 10, 11, 0, None, 250],
        "n_journeys": [12, 14, 30, 0, 3, 400],
        "conversion_rate": [0.5, 0.4, 0.3, 0.0, 0.2, 0.1],
        "small": [True, True, False, True, True, False],  # a flag: never blanked
    })
    df.attrs["definition"] = {"analysis": "test", "unit": "journey", "filters": {}}
    return df


def test_k_boundary_nine_suppressed_ten_kept():
    out = suppress_small(_groups(), k=10).set_index("segment")
    assert out["suppressed"].to_dict() == {"A": True, "B": False, "C": False, "D": True, "E": True, "F": False}
    for seg in "ADE":  # every metric blanked, the count too
        assert out.loc[seg, ["n_customers", "n_journeys", "conversion_rate"]].isna().all(), seg
    assert out.loc["B", "n_customers"] == 10 and out.loc["B", "conversion_rate"] == 0.4
    assert out.loc["C", "n_journeys"] == 30 and out.loc["F", "conversion_rate"] == 0.1
    assert out["step"].tolist() == [1, 2, 3, 4, 5, 6]          # labels stay, so the groups are still listed
    assert out["small"].tolist() == [True, True, False, True, True, False]
    assert out.attrs["definition"]["unit"] == "journey"
    assert out.attrs["suppression"] == {"k": 10, "count": "n_customers", "n_suppressed": 3, "n_rows": 6,
                                        "metrics": ["n_customers", "n_journeys", "conversion_rate"]}
    assert suppression_note(out) == "Privacy: 3 groups with fewer than 10 customers not shown."


def test_other_k_count_and_metrics():
    df = _groups()
    out = suppress_small(df, k=11, count="n_journeys", metrics=["conversion_rate"])
    assert out["suppressed"].tolist() == [False, False, False, True, True, False]   # 12, 14, 30 >= 11
    assert out["n_journeys"].tolist() == [12, 14, 30, 0, 3, 400]                   # not a listed metric
    assert math.isnan(out["conversion_rate"][3]) and out["conversion_rate"][0] == 0.5
    assert df["conversion_rate"][3] == 0.0                                          # input untouched
    again = suppress_small(out, k=2, count="n_journeys")                            # once suppressed, stays so
    assert again["suppressed"].tolist() == [False, False, False, True, True, False]
    assert suppression_note(suppress_small(df.iloc[[1, 2, 5]], k=10)) == (
        "Privacy: every group counts at least 10 customers.")
    assert suppression_note(df) == ""


def test_bad_options_are_actionable():
    with pytest.raises(PrivacyError, match="n_customers") as err:
        suppress_small(_groups(), count="n_customer")
    assert isinstance(err.value, WorkbenchError) and isinstance(err.value, ValueError)
    assert "Did you mean 'n_customers'" in str(err.value)
    with pytest.raises(PrivacyError, match="at least 1"):
        suppress_small(_groups(), k=0)
    with pytest.raises(PrivacyError, match="metric column"):
        suppress_small(_groups(), metrics=["rate"])


def test_suppression_on_demo_switch_matrix(demo_db):
    """Department hand-offs of the demo include routes under 10 customers (Q99 overflow)."""
    import cjworkbench

    con = cjworkbench.connect(demo_db[0], read_only=True)
    table = cjworkbench.switch_matrix_table(con, by="department")
    out = suppress_small(table, k=10)
    expected = int((table["n_customers"] < 10).sum())
    assert 0 < expected < len(table)
    assert int(out["suppressed"].sum()) == expected
    assert out.loc[out["suppressed"], ["n_switches", "n_customers", "median_seconds"]].isna().all().all()
    kept = out[~out["suppressed"]]
    assert (kept["n_customers"] >= 10).all()
    assert kept["n_switches"].tolist() == table.loc[table["n_customers"] >= 10, "n_switches"].tolist()


PERSONAL = ["customer_id", "journey_id", "CustomerID", "cust_no", "SubscriberKey", "EmailAddress", "email",
            "phone", "phone_number", "first_name", "LastName", "name", "text", "verbatim", "comment", "user_agent",
            "ip", "case_id", "order_id", "feedback_id", "birth_date"]
SAFE = ["segment", "touchpoint", "activity", "channel", "n_customers", "n_journeys", "share", "score", "theme"]


def test_mask_personal_drops_every_personal_column():
    df = pd.DataFrame({c: [f"{c}-1", None] for c in PERSONAL + SAFE})
    df["attributes"] = [{"email": "a@example.com", "first_name": "Zoë", "income_band": "high"}, None]
    df.attrs["definition"] = {"analysis": "test"}
    out = mask_personal(df)
    assert [c for c in out.columns if c in PERSONAL] == []
    assert [c for c in out.columns if is_personal(c)] == []
    assert list(out.columns) == SAFE + ["attributes"]
    assert out["attributes"][0] == {"income_band": "high"} and out["attributes"][1] is None
    assert out.attrs["definition"] == {"analysis": "test"}
    assert out.attrs["personal_columns"]["columns"] == PERSONAL
    assert df["attributes"][0]["email"] == "a@example.com"  # input untouched


def test_mask_personal_mask_mode_keep_and_extra():
    df = pd.DataFrame({"customer_id": ["C1", None], "name": ["checkout_start", "view_home"], "city": ["Arnhem", "Ede"],
                       "n": [3, 4]})
    out = mask_personal(df, how="mask", keep=["name"], extra=["city"])
    assert out["customer_id"].tolist()[0] == "[hidden]" and pd.isna(out["customer_id"][1])
    assert out["city"].tolist() == ["[hidden]", "[hidden]"]
    assert out["name"].tolist() == ["checkout_start", "view_home"] and out["n"].tolist() == [3, 4]
    with pytest.raises(PrivacyError, match="Expected one of: drop, mask"):
        mask_personal(df, how="hide")


def test_mask_personal_on_demo_tables(demo_db):
    """No identifier or contact detail survives on the tables that hold them."""
    import cjworkbench

    path, _ = demo_db
    con = cjworkbench.connect(path, read_only=True)
    customers = mask_personal(con.table("customers").limit(50).to_pandas())
    assert "customer_id" not in customers.columns
    keys = set().union(*customers["attributes"].map(set))
    assert keys and not keys & {"first_name", "last_name", "email", "phone"}
    feedback = mask_personal(con.table("feedback").limit(50).to_pandas())
    assert not {"customer_id", "journey_id", "feedback_id", "text"} & set(feedback.columns)
    assert {"instrument", "score", "touchpoint"} <= set(feedback.columns)


def test_no_raw_email_phone_or_name_in_the_database_file(demo_db):
    """Identity keys (issue #17) are normalised, then hashed: no raw e-mail address, phone number
    (any of the agents' formats) or typed full name reaches the file: a byte scan of the file, and
    an exact scan of every text column and attribute value against the raw export values."""
    import re

    import duckdb
    import pyarrow.parquet as pq

    path, _ = demo_db
    exports = path.parent / "exports"
    data = path.read_bytes()
    email = re.compile(rb"@(?:mail\.)?example\.(?:com|net|org)")   # a literal: fast on the whole file
    # a phone as typed, not a digit run inside a hex pseudonym; typed names: the exact scan below
    phone = re.compile(rb"(?<![0-9A-Za-z_])(?:\+31 ?6|06[- ]?|0031 6 )\d{8}(?![0-9A-Za-z])")
    for what, pattern in (("e-mail", email), ("phone", phone)):
        hit = pattern.search(data)
        assert hit is None, f"raw {what} in {path.name} at byte {hit.start()}"
    raw = duckdb.connect()
    orders = pq.read_table(exports / "orders.parquet", columns=["guest_email", "guest_name", "guest_phone"])
    raw.register("o", orders)
    raw.execute(f"""CREATE TABLE v AS
        SELECT email AS v FROM read_csv('{exports / "crm_customers.csv"}', delim = ';', encoding = 'latin-1',
                                        all_varchar = true) UNION
        SELECT phone FROM read_csv('{exports / "crm_customers.csv"}', delim = ';', encoding = 'latin-1',
                                   all_varchar = true) UNION
        SELECT cust_no FROM read_csv('{exports / "contact_cases.csv"}', all_varchar = true, ignore_errors = true)
            WHERE NOT regexp_matches(cust_no, '^C[0-9]+$') UNION
        SELECT unnest([device_id, ip]) FROM read_csv('{exports / "web_clickstream.csv.gz"}', all_varchar = true,
                                                      ignore_errors = true) UNION
        SELECT unnest([guest_email, guest_name, guest_phone]) FROM o""")
    assert raw.execute("SELECT count(*) FROM v WHERE regexp_matches(v, '^10[.]')").fetchone()[0] > 1000   # home IPs
    assert raw.execute("SELECT count(*) FROM v WHERE v LIKE '%@%'").fetchone()[0] > 1000
    raw.execute(f"ATTACH '{path}' AS db (READ_ONLY)")
    cols = raw.execute("""SELECT table_name, column_name, data_type FROM duckdb_columns()
                          WHERE database_name = 'db' AND (data_type = 'VARCHAR' OR data_type LIKE 'MAP%')""").fetchall()
    assert {"persons", "identity_links", "identity_keys", "identity_fields"} <= {t for t, _c, _d in cols}
    for table, col, kind in cols:
        cell = f'unnest(map_values("{col}"))' if kind.startswith("MAP") else f'"{col}"'
        n = raw.execute(f'SELECT count(*) FROM (SELECT {cell} AS x FROM db."{table}") JOIN v ON x = v').fetchone()[0]
        assert n == 0, f"{table}.{col} holds {n} raw personal values"
