"""Probabilistic linkage (Fellegi-Sunter, Splink on DuckDB) of records no shared key joined.

Each record is one `customer_id` with its comparison fields: keyed hashes of the normalised name,
e-mail and phone, hashes of a phonetic name code and of the phone's head and tail digits, birth
year and a 4-character postcode; for web visits the hashed usual IP and user agent and the list of
(IP hash, day) it was seen on, so an anonymous visit is compared with the logins from the same IP
that day (blocking on the IP, as Splink's docs suggest for device and IP data). The model is trained without labels: u by random sampling of
record pairs, m by expectation maximisation within each blocking rule; pairs from the configured
blocking rules at or above `threshold` become links, each with its match weight, probability and
the comparisons that agreed with their partial weights (`agreed`,
e.g. 'name +11.8, phone +9.6'), so an analyst can see why two records were joined.
"""

from __future__ import annotations

import logging

from .config import COMPARISON_COLUMNS, IdentityConfig

LINK_COLUMNS = ("customer_id_l", "customer_id_r", "match_weight", "match_probability", "agreed")
# comparison -> (columns it needs, levels from closest: (column compared exactly, label))
COMPARISONS = {
    "name": (("name_h", "exact"), ("name_code", "phonetic")),
    "first_name": (("first_h", "exact"), ("first_code", "phonetic")),
    "last_name": (("last_h", "exact"), ("last_code", "phonetic")),
    "birth_date": (("birth_date_h", "exact"),),
    "address": (("address_h", "exact"),),
    "national_id": (("national_id_h", "exact"),),
    "phone": (("phone_h", "exact"), ("phone_head", "head"), ("phone_tail", "tail")),
    "email": (("email_h", "exact"),),
    "birth_year": (("birth_year", "exact"),),
    "postcode": (("postcode", "exact"),),
    "ip": (("ip_h", "exact"),),                 # the record's usual IP (households share one)
    "user_agent": (("agent_h", "exact"),),      # the device's browser
    "ip_day": (("ip_day", "same day"),),        # seen from the same IP on the same day: time proximity
}


def _comparison(name: str):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels = COMPARISONS[name]
    out = [cll.NullLevel(levels[0][0])]
    out += [(cll.ArrayIntersectLevel(col, min_intersection=1) if col == "ip_day" else cll.ExactMatchLevel(col))
            .configure(label_for_charts=f"{name} {label}") for col, label in levels]
    if name == "ip":   # blocked on in device_links, so EM cannot learn it
        out[1] = out[1].configure(m_probability=IP_M, fix_m_probability=True)
    return cl.CustomComparison(output_column_name=name, comparison_levels=[*out, cll.ElseLevel()])


def comparisons_present(con, records: str) -> list[str]:
    """Comparisons with a value on at least two records (a column nobody has cannot be trained)."""
    present = []
    for name, levels in COMPARISONS.items():
        col = levels[0][0]
        if con.execute(f"SELECT count({col}) FROM {records}").fetchone()[0] >= 2:
            present.append(name)
    return present


DEVICE = ("ip", "user_agent", "ip_day")   # compared only between an anonymous visit and the others (device_links)
IP_M = 0.95   # m of "same usual IP" between a visit and its person: fixed, as pairs are blocked on the IP (no EM)


def model_links(con, idc: IdentityConfig, records: str, *, seed: int = 42) -> str:
    """Train on `records` (unique_id + comparison columns) and write `__model_links`; return its name.

    Two models: the person fields (names, phones, e-mail, ...) over every record, and the device
    fields (IP, user agent, IP per day) between device-only records (anonymous visits) and the
    rest, so a household sharing an IP never trains or links through the person model.
    Fewer than two comparisons, or no candidate pair, give no links (nothing to learn from)."""
    con.execute("CREATE OR REPLACE TEMP TABLE __model_links (customer_id_l VARCHAR, customer_id_r VARCHAR, "
                "match_weight DOUBLE, match_probability DOUBLE, agreed VARCHAR)")
    names = [n for n in comparisons_present(con, records) if n not in DEVICE]
    rules = [r for r in idc.blocking if all(_needs(c) in names for c in r)]
    if len(names) >= 2 and rules and con.execute(f"SELECT count(*) FROM {records}").fetchone()[0] >= 3:
        from splink import block_on

        _fit(con, idc, records, names, [block_on(*r) for r in rules], seed)
    device_links(con, idc, records, seed=seed)
    best_link_only(con, records)
    return "__model_links"


def device_links(con, idc: IdentityConfig, records: str, *, seed: int = 42) -> None:
    """Anonymous visits (records with device fields only) against the records seen from the same
    IP (blocking on `ip_h`, as Splink's guidance for device data): user agent and same-day overlap
    trained by EM inside that block; the IP's own m is fixed (IP_M), its u sampled."""
    if not any(set(r) <= {"ip_h", "agent_h"} for r in idc.blocking):
        return
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __id_device AS SELECT unique_id, ip_h, agent_h, ip_day,
        ({_device_only()}) AS thin FROM {records} WHERE ip_h IS NOT NULL""")
    if not con.execute("SELECT count(*) FILTER (thin) > 0 AND count(*) FILTER (NOT thin) > 0 FROM __id_device"
                       ).fetchone()[0]:
        return
    names = [n for n in DEVICE if con.execute(f"SELECT count({COMPARISONS[n][0][0]}) >= 2 FROM __id_device").fetchone()[0]]
    rule = "l.ip_h = r.ip_h AND l.thin <> r.thin"   # one anonymous visit, one other record
    _fit(con, idc, "__id_device", names, [rule], seed)


def _fit(con, idc: IdentityConfig, table: str, names: list[str], rules: list, seed: int) -> None:
    """Train a Fellegi-Sunter model of `names` on `table` and append its links to `__model_links`."""
    from splink import DuckDBAPI, Linker, SettingsCreator

    logging.getLogger("splink").setLevel(logging.ERROR)
    settings = SettingsCreator(link_type="dedupe_only", comparisons=[_comparison(n) for n in names],
                               blocking_rules_to_generate_predictions=rules,
                               retain_intermediate_calculation_columns=True, retain_matching_columns=False)
    linker = Linker(DuckDBAPI(con).register(table), settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=idc.max_pairs, seed=seed)
    for rule in rules:   # m by EM within each blocking rule: a comparison is trained where it is not blocked on
        linker.training.estimate_parameters_using_expectation_maximisation(rule)
    pred = linker.inference.predict(threshold_match_probability=idc.threshold)
    # evidence: each comparison that agreed, with its partial match weight (log2 Bayes factor)
    agreed = ", ".join(f"CASE WHEN mw_{n} > 0 THEN '{n} ' || printf('%+.1f', mw_{n}) END" for n in names)
    con.execute(f"""INSERT INTO __model_links SELECT least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r),
                    match_weight, match_probability, concat_ws(', ', {agreed})
                    FROM {pred.physical_name} ORDER BY 1, 2""")


def _device_only() -> str:
    return " AND ".join(f"{c} IS NULL" for c in COMPARISON_COLUMNS if c not in ("ip_h", "agent_h", "ip_day"))


def best_link_only(con, records: str) -> None:
    """A record known only by its device (IP, user agent, days seen: an anonymous visit) keeps its
    best model link alone: a household sharing an IP must not be merged through one visit."""
    con.execute(f"""DELETE FROM __model_links m USING (
        WITH thin AS (SELECT unique_id FROM {records} WHERE {_device_only()}),
             ends AS (SELECT customer_id_l AS id, * FROM __model_links SEMI JOIN thin ON customer_id_l = unique_id
                      UNION ALL SELECT customer_id_r, * FROM __model_links SEMI JOIN thin ON customer_id_r = unique_id)
        SELECT customer_id_l, customer_id_r FROM ends QUALIFY row_number() OVER (
            PARTITION BY id ORDER BY match_weight DESC, customer_id_l, customer_id_r) > 1) d
        WHERE m.customer_id_l = d.customer_id_l AND m.customer_id_r = d.customer_id_r""")


def _needs(column: str) -> str:
    return next(n for n, levels in COMPARISONS.items() if any(c == column for c, _l in levels))
