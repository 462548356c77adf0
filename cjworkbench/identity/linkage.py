"""Probabilistic linkage (Fellegi-Sunter, Splink on DuckDB) of records no shared key joined.

Each record is one `customer_id` with its comparison fields: keyed hashes of the normalised name,
e-mail and phone, hashes of a phonetic name code and of the phone's head and tail digits, birth
year and a 4-character postcode. The model is trained without labels: u by random sampling of
record pairs, m by expectation maximisation within each blocking rule; pairs from the configured
blocking rules at or above `threshold` become links, each with its match weight, probability and
the comparisons that agreed with their partial weights (`agreed`,
e.g. 'name +11.8, phone +9.6'), so an analyst can see why two records were joined.
"""

from __future__ import annotations

import logging

from .config import IdentityConfig

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
}


def _comparison(name: str):
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    levels = COMPARISONS[name]
    out = [cll.NullLevel(levels[0][0])]
    out += [cll.ExactMatchLevel(col).configure(label_for_charts=f"{name} {label}") for col, label in levels]
    return cl.CustomComparison(output_column_name=name, comparison_levels=[*out, cll.ElseLevel()])


def comparisons_present(con, records: str) -> list[str]:
    """Comparisons with a value on at least two records (a column nobody has cannot be trained)."""
    present = []
    for name, levels in COMPARISONS.items():
        col = levels[0][0]
        if con.execute(f"SELECT count({col}) FROM {records}").fetchone()[0] >= 2:
            present.append(name)
    return present


def model_links(con, idc: IdentityConfig, records: str, *, seed: int = 42) -> str:
    """Train on `records` (unique_id + comparison columns) and write `__model_links`; return its name.

    Fewer than two comparisons, or no candidate pair, give an empty table (nothing to learn from)."""
    con.execute("CREATE OR REPLACE TEMP TABLE __model_links (customer_id_l VARCHAR, customer_id_r VARCHAR, "
                "match_weight DOUBLE, match_probability DOUBLE, agreed VARCHAR)")
    names = comparisons_present(con, records)
    rules = [r for r in idc.blocking if all(_needs(c) in names for c in r)]
    if len(names) < 2 or not rules or con.execute(f"SELECT count(*) FROM {records}").fetchone()[0] < 3:
        return "__model_links"
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    db = DuckDBAPI(con)
    settings = SettingsCreator(link_type="dedupe_only", comparisons=[_comparison(n) for n in names],
                               blocking_rules_to_generate_predictions=[block_on(*r) for r in rules],
                               retain_intermediate_calculation_columns=True, retain_matching_columns=False)
    linker = Linker(db.register(records), settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=idc.max_pairs, seed=seed)
    for rule in rules:   # m by EM within each blocking rule: a comparison is trained where it is not blocked on
        linker.training.estimate_parameters_using_expectation_maximisation(block_on(*rule))
    pred = linker.inference.predict(threshold_match_probability=idc.threshold)
    # evidence: each comparison that agreed, with its partial match weight (log2 Bayes factor)
    agreed = ", ".join(f"CASE WHEN mw_{n} > 0 THEN '{n} ' || printf('%+.1f', mw_{n}) END" for n in names)
    con.execute(f"""INSERT INTO __model_links SELECT least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r),
                    match_weight, match_probability, concat_ws(', ', {agreed})
                    FROM {pred.physical_name} ORDER BY 1, 2""")
    return "__model_links"


def _needs(column: str) -> str:
    return next(n for n, levels in COMPARISONS.items() if any(c == column for c, _l in levels))
