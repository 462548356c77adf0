"""Records -> persons: shared keys and model links joined transitively (connected components in
DuckDB SQL), then stable `person_id`s against the previous database.

Stability: a cluster holding records of one earlier person keeps that person's id (new records
join it); a cluster holding records of several earlier persons keeps the oldest id (the lowest
number) and the merge is written to `identity_changes`; when an earlier person's records now fall
into several clusters, the cluster with most of them keeps the id and every other part gets a new
id, recorded as a split. Brand-new clusters are numbered after the highest id ever given.
"""

from __future__ import annotations

import duckdb

from ..contract import DDL, IDENTITY_TABLES
from .config import COMPARISON_COLUMNS
from .linkage import model_links
from .normalise import literal

ID_WIDTH = 9   # 'P000000001'


def record_table(con) -> None:
    """`__nodes`: every customer_id of the canonical tables (each one record)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE __nodes AS SELECT DISTINCT customer_id FROM (
                   SELECT customer_id FROM out.customers UNION ALL SELECT customer_id FROM out.events
                   UNION ALL SELECT customer_id FROM out.feedback)""")


def key_links(con) -> None:
    """`__key_links`: each record linked to the smallest customer_id sharing a key with it (a star per
    key: n - 1 edges, not n^2), with the key kinds as evidence."""
    con.execute("""CREATE OR REPLACE TEMP TABLE __key_links AS
        WITH k AS (SELECT DISTINCT k.customer_id, kind, key FROM out.identity_keys k SEMI JOIN __nodes USING (customer_id)),
             a AS (SELECT kind, key, min(customer_id) AS anchor FROM k GROUP BY ALL HAVING count(*) > 1)
        SELECT a.anchor AS customer_id_l, k.customer_id AS customer_id_r, string_agg(DISTINCT k.kind, ', '
               ORDER BY k.kind) AS agreed
        FROM k JOIN a USING (kind, key) WHERE k.customer_id <> a.anchor GROUP BY ALL""")


def model_records(con) -> str:
    """`__id_records`: one row per record with comparison fields (first non-NULL over its sources)."""
    agg = {"ip_h": "mode(ip_h)", "agent_h": "mode(agent_h)",   # the usual home IP and device; days seen as a list
           "ip_day": "CASE WHEN count(ip_day) > 0 THEN list(DISTINCT ip_day) FILTER (ip_day IS NOT NULL) END"}
    cols = ", ".join(f"{agg.get(c, f'min({c})')} AS {c}" for c in COMPARISON_COLUMNS)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __id_records AS SELECT customer_id AS unique_id, {cols}
        FROM out.identity_fields SEMI JOIN __nodes USING (customer_id) GROUP BY customer_id ORDER BY customer_id""")
    return "__id_records"


def components(con) -> None:
    """`__clusters(customer_id, cluster)`: the smallest customer_id reachable through any link.
    Label propagation in SQL; the loop runs once per hop of the longest chain, not per row."""
    con.execute("""CREATE OR REPLACE TEMP TABLE __edges AS
        SELECT customer_id_l AS a, customer_id_r AS b FROM __key_links UNION
        SELECT customer_id_l, customer_id_r FROM __model_links""")
    con.execute("CREATE OR REPLACE TEMP TABLE __clusters AS SELECT customer_id, customer_id AS cluster FROM __nodes")
    while True:
        con.execute("""CREATE OR REPLACE TEMP TABLE __next AS
            WITH e AS (SELECT a, b FROM __edges UNION ALL SELECT b, a FROM __edges),
                 m AS (SELECT e.a AS customer_id, min(c.cluster) AS best FROM e JOIN __clusters c ON c.customer_id = e.b
                       GROUP BY e.a)
            SELECT c.customer_id, least(c.cluster, coalesce(m.best, c.cluster)) AS cluster
            FROM __clusters c LEFT JOIN m USING (customer_id)""")
        changed = con.execute("""SELECT count(*) FROM __next n JOIN __clusters c USING (customer_id)
                                 WHERE n.cluster <> c.cluster""").fetchone()[0]
        con.execute("DROP TABLE __clusters; ALTER TABLE __next RENAME TO __clusters")
        if not changed:
            return


def previous_persons(con, db_path) -> None:
    """`__prev_persons(customer_id, person_id)` from the database being replaced (empty if none)."""
    con.execute("CREATE OR REPLACE TEMP TABLE __prev_persons (customer_id VARCHAR, person_id VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE __prev_top AS SELECT 0 AS n")
    con.execute("CREATE OR REPLACE TEMP TABLE __prev_changes AS SELECT * FROM out.identity_changes LIMIT 0")
    if db_path is None or not db_path.exists():
        return
    try:
        con.execute(f"ATTACH {literal(str(db_path))} AS prev_id (READ_ONLY)")
    except duckdb.Error:
        return
    try:
        if con.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = 'prev_id' "
                       "AND table_name = 'persons'").fetchone()[0]:
            con.execute("INSERT INTO __prev_persons SELECT customer_id, person_id FROM prev_id.persons")
            con.execute("INSERT INTO __prev_changes SELECT * FROM prev_id.identity_changes")
            con.execute("""CREATE OR REPLACE TEMP TABLE __prev_top AS SELECT greatest(
                (SELECT coalesce(max(TRY_CAST(substr(person_id, 2) AS BIGINT)), 0) FROM prev_id.persons),
                (SELECT coalesce(max(TRY_CAST(substr(new_person_id, 2) AS BIGINT)), 0) FROM prev_id.identity_changes))
                AS n""")
    finally:
        con.execute("DETACH prev_id")


def assign_ids(con, run_id: str) -> None:
    """`__persons(customer_id, person_id)` and `__changes` (merges and splits of this run)."""
    con.execute("""CREATE OR REPLACE TEMP TABLE __votes AS
        SELECT c.cluster, p.person_id, count(*) AS n FROM __clusters c JOIN __prev_persons p USING (customer_id)
        GROUP BY ALL""")
    # each earlier id goes to the cluster holding most of its records (ties: the smallest cluster key);
    # each cluster keeps the oldest (lowest) of the earlier ids it won
    con.execute("""CREATE OR REPLACE TEMP TABLE __kept AS
        WITH won AS (SELECT person_id, cluster FROM __votes
                     QUALIFY row_number() OVER (PARTITION BY person_id ORDER BY n DESC, cluster) = 1)
        SELECT cluster, min(person_id) AS person_id FROM won GROUP BY cluster""")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __cluster_ids AS
        WITH c AS (SELECT cluster FROM __clusters GROUP BY cluster)
        SELECT c.cluster, coalesce(k.person_id, 'P' || lpad(((SELECT n FROM __prev_top) + row_number() OVER (
               PARTITION BY k.person_id IS NULL ORDER BY c.cluster))::VARCHAR, {ID_WIDTH}, '0')) AS person_id
        FROM c LEFT JOIN __kept k USING (cluster)""")
    con.execute("""CREATE OR REPLACE TEMP TABLE __persons AS SELECT c.customer_id, i.person_id
        FROM __clusters c JOIN __cluster_ids i USING (cluster) ORDER BY customer_id""")
    con.execute("""CREATE OR REPLACE TEMP TABLE __changes AS
        SELECT $run AS run_id, 'merge' AS change, i.person_id, list(v.person_id ORDER BY v.person_id) AS earlier_person_ids,
               NULL::VARCHAR AS new_person_id
        FROM __votes v JOIN __cluster_ids i USING (cluster) GROUP BY ALL HAVING count(*) > 1
        UNION ALL
        SELECT $run, 'split', v.person_id, [v.person_id], i.person_id
        FROM __votes v JOIN __cluster_ids i USING (cluster) WHERE i.person_id <> v.person_id
             AND v.person_id IN (SELECT person_id FROM __votes GROUP BY person_id HAVING count(*) > 1)""",
                {"run": run_id})


def link_records(con, idc, db_path, run_id: str) -> dict:
    """Every step after the sources are loaded; writes out.persons, out.identity_links and
    out.identity_changes. Returns counts for the summary line."""
    for table in IDENTITY_TABLES:   # a refresh works on a copy that has them: persons etc. are rebuilt
        how = "CREATE TABLE IF NOT EXISTS out." if table in ("identity_keys", "identity_fields") else "CREATE OR REPLACE TABLE out."
        con.execute(DDL[table].replace("CREATE TABLE ", how, 1))
    record_table(con)
    key_links(con)
    model_links(con, idc, model_records(con))
    components(con)
    previous_persons(con, db_path)
    assign_ids(con, run_id)
    con.execute("INSERT INTO out.persons SELECT customer_id, person_id FROM __persons ORDER BY customer_id")
    con.execute("""INSERT INTO out.identity_links SELECT customer_id_l, customer_id_r, 'key', NULL, NULL, agreed
                   FROM __key_links UNION ALL SELECT customer_id_l, customer_id_r, 'model', match_weight,
                   match_probability, agreed FROM __model_links ORDER BY 1, 2, 3""")
    con.execute("INSERT INTO out.identity_changes SELECT * FROM __prev_changes")   # earlier runs' changes stay
    con.execute("INSERT INTO out.identity_changes SELECT * FROM __changes ORDER BY change, person_id, new_person_id")
    n = con.execute("""SELECT (SELECT count(*) FROM __persons), (SELECT count(DISTINCT person_id) FROM __persons),
                       (SELECT count(*) FROM __key_links), (SELECT count(*) FROM __model_links),
                       (SELECT count(*) FROM __changes)""").fetchone()
    return dict(zip(("records", "persons", "key_links", "model_links", "changes"), n))
