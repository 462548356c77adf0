"""Link the records of one DataFrame outside an ingest: the same normalisation, keyed hashes,
model and clustering as `cjw ingest`, for benchmarks (FEBRL, 1 M records) and for trying an
`identity:` block on a sample. `pairwise_scores` measures a result against labelled truth.
"""

from __future__ import annotations

import pandas as pd

from ..contract import DDL
from ..ingest.pseudonym import pseudonymiser
from .collect import field_items
from .config import parse_identity
from .normalise import hashed, key_sql, register
from .persons import link_records


def link_frame(df: pd.DataFrame, *, id_column: str, key: bytes, keys: dict | None = None,
               fields: dict | None = None, con=None, **options) -> dict[str, pd.DataFrame]:
    """Persons and links of the rows of `df` (one record per distinct `id_column`). `keys` and
    `fields` map a kind to a column as under `identity.keys.<source>` / `identity.fields.<source>`;
    `options` are the block's other keys (blocking, threshold, phone_country, ...)."""
    import duckdb

    raw = {"keys": {"frame": keys} if keys else None, "fields": {"frame": fields} if fields else None, **options}
    idc = parse_identity({k: v for k, v in raw.items() if v is not None}, ("frame",))
    con = con or duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.create_function("cjw_pseudonym", pseudonymiser(key), ["VARCHAR"], "VARCHAR", null_handling="special",
                        side_effects=False)
    register(con)
    con.register("__frame", df)
    con.execute("ATTACH ':memory:' AS out")
    for table in ("customers", "events", "feedback"):
        con.execute(f"CREATE TABLE out.{table} (customer_id VARCHAR)")
    con.execute(f'INSERT INTO out.customers SELECT DISTINCT "{id_column}"::VARCHAR FROM __frame')
    for table in ("identity_keys", "identity_fields"):
        con.execute(DDL[table].replace("CREATE TABLE ", "CREATE TABLE out.", 1))
    q = lambda c: '"' + c.replace('"', '""') + '"'  # noqa: E731
    for kind, cols in idc.keys.get("frame", {}).items():
        norm = key_sql(kind, f"{q(cols)}::VARCHAR", idc.phone_country, idc.email_ignore_dots)
        con.execute(f"""INSERT INTO out.identity_keys SELECT DISTINCT {q(id_column)}::VARCHAR, 'frame', $k,
                        {hashed(kind, norm)} AS k, NULL FROM __frame WHERE k IS NOT NULL""", {"k": kind})
    items = [i for kind, cols in idc.fields.get("frame", {}).items()
             for i in field_items(kind, tuple(cols), idc)]
    if items:
        con.execute(f"CREATE TEMP TABLE __cast AS SELECT {q(id_column)}::VARCHAR AS __id, * EXCLUDE ({q(id_column)}) "
                    f"FROM __frame")
        con.execute(f"INSERT INTO out.identity_fields BY NAME SELECT __id AS customer_id, 'frame' AS source, "
                    f"{', '.join(items)} FROM __cast")
    counts = link_records(con, idc, None, "frame")
    out = {t: con.execute(f"SELECT * FROM out.{t}").df() for t in ("persons", "identity_links")}
    out["counts"] = counts
    return out


def pairwise_scores(pred: pd.Series, true: pd.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of a clustering (`pred`, e.g. person_id) against the true
    one (`true`), row by row: a pair is two records in one cluster."""
    pairs = lambda g: int((g * (g - 1) // 2).sum())  # noqa: E731
    df = pd.DataFrame({"p": pred.to_numpy(), "t": true.to_numpy()})
    tp, pp, tt = pairs(df.groupby(["p", "t"]).size()), pairs(df.groupby("p").size()), pairs(df.groupby("t").size())
    precision, recall = (tp / pp if pp else 1.0), (tp / tt if tt else 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "true_pairs": tt, "found_pairs": pp, "correct_pairs": tp}


