"""The command line's flags (`cjw <command> --flag`) and the ingest config's keys.

`cjworkbench/cli.py` builds the argparse parser and `cjworkbench/config.py` reads the YAML;
tests/test_parameters.py checks that every flag and key they accept is declared here with the same
default and allowed values, and that nothing declared here is gone from them.
"""

from __future__ import annotations

from .core import Parameter


def _f(name, type_, default, help_, **kw) -> Parameter:
    return Parameter(name, type_, default, help_, notebooks=(), **kw)


_DB = "DuckDB file built by `cjw ingest`"
# serve, lab, report, info: a DuckDB file, or Spark over the tables (cjworkbench/backends.py, README "Beyond one machine")
_READ_DB = ("DuckDB file built by `cjw ingest`, or spark:<folder of `cjw export --parquet`> / spark:<Spark database> "
            "[?master=...&spark.*=...] to query the same tables on Spark")
# command ("" for options before the command) -> its flags; a positional argument is named without dashes
CLI_FLAGS: dict[str, tuple[Parameter, ...]] = {
    "": (_f("--debug", bool, False, "show tracebacks of internal errors"),),
    "ingest": (
        _f("--config", str, None, "ingest config (YAML)", required=True),
        _f("--db", str, None, "DuckDB file to build (swapped in on success)", required=True),
        _f("--json", bool, False, "print a machine-readable summary"),
        _f("--strict", bool, False, "fail (and keep the old database) on any reject"),
        _f("--quiet", bool, False, "no progress lines on stderr"),
        _f("--new-key", bool, False, "accept a pseudonymisation key other than the one the existing database was "
           "built with (every pseudonymised id changes)"),
        _f("--full", bool, False, "rebuild from every file instead of refreshing (loading only new and changed "
           "files)"),
    ),
    "designs": (
        _f("--config", str, None, "ingest config (YAML): only designs:, timezone: and languages: are read",
           required=True),
        _f("--db", str, None, "DuckDB file built by `cjw ingest` (swapped in on success)", required=True),
        _f("--json", bool, False, "print what changed as JSON"),
    ),
    "info": (
        _f("--db", str, None, _READ_DB, required=True),
        _f("--json", bool, False, "print the description as JSON"),
    ),
    "export": (
        _f("--db", str, None, _DB, required=True),
        _f("--parquet", str, None, "folder for the partitioned Parquet tables", required=True),
    ),
    "demo-data": (
        _f("out_dir", str, None, "folder for the demo exports, config and designed files", required=True),
        _f("--customers", int, 20_000, "customers to generate", low=1),
        _f("--seed", int, 7, "random seed (the same seed gives the same data)"),
    ),
    "serve": (
        _f("--db", str, None, _READ_DB, required=True),
        _f("--port", int, 8866, "port to listen on", low=1, high=65535),
        _f("--no-browser", bool, False, "only print the URL"),
        _f("--ip", str, "127.0.0.1", "address to listen on; any other than loopback needs $CJW_SERVE_TOKEN or "
           "--unauthenticated"),
        _f("--unauthenticated", bool, False, "allow a non-loopback --ip without a token: only behind a reverse "
           "proxy that authenticates"),
        _f("--max-sessions", int, None, "most dashboard kernels (~0.25 GB each) alive at once, the --pool included "
           "(default: as many as fit in half of the free memory, at most 6 GB: 24 on a 24 GB machine)", low=1),
        _f("--idle-timeout", int, None, "seconds before a session whose tab is closed ends (default 60)", low=1),
        _f("--pool", int, None, "overview kernels kept ready for the next viewers (default: up to 20, 4 below "
           "--max-sessions; 0: none); they count against --max-sessions", low=0),
    ),
    "report": (
        _f("--db", str, None, _READ_DB, required=True),
        _f("--period", str, "month", "the report period", choices=("week", "month", "quarter", "year")),
        _f("--as-of", str, None, "a day of the period to report, usually its last (2026-06-30)", required=True),
        _f("--out", str, None, "reports folder: DIR/<period>/*.html, DIR/index.html", required=True),
        _f("--notebooks", list, None, "notebooks or folders (default: notebooks/)"),
        _f("--timeout", float, 600, "seconds a notebook cell may run", low=0),
        _f("--param", list, None, "NAME=VALUE: a notebook parameter for every notebook that declares it "
           "(repeatable; wins over the config's report: parameters)"),
        _f("--config", str, None, "ingest config whose `report: parameters:` block sets notebook parameters"),
    ),
    "lab": (
        _f("--db", str, None, _READ_DB, required=True),
        _f("--notebooks", str, None, "notebook folder (default: notebooks/)"),
        _f("--port", int, 8888, "port to listen on", low=1, high=65535),
        _f("--no-browser", bool, False, "only print the URL"),
    ),
}

# block -> its keys: "" the config's top level, "sources[]" each source, "limits" the limits: block
CONFIG_KEYS: dict[str, tuple[Parameter, ...]] = {
    "": (
        _f("timezone", str, "UTC", "the business time zone: periods and dates are cut in it, and naive "
           "timestamps are read in it unless a source sets its own"),
        _f("languages", list, ["en"], "ISO 639-1 codes of the languages of the texts (comments, reviews)"),
        _f("designs", dict, None, "what the business intends, stored in the database (keys below)"),
        _f("sources", list, None, "the exports, one mapping each (keys below)", required=True),
        _f("limits", dict, None, "ceilings one ingest stays under (keys below)"),
        _f("report", dict, None, "`parameters:` notebook parameter -> value for `cjw report --config`"),
        _f("identity", dict, None, "identity across silos: `keys:` / `fields:` per source (source -> kind -> export "
           "column), `blocking:`, `threshold:`, `phone_country:`, `email_ignore_dots:`, `max_pairs:` "
           "(cjworkbench/identity/config.py); writes persons, identity_links, identity_changes"),
    ),
    "sources[]": (
        _f("name", str, None, "unique, lowercase letters, digits and _", required=True,
           pattern=r"[a-z][a-z0-9_]{0,62}"),
        _f("kind", str, None, "the canonical table it feeds", required=True,
           choices=("customers", "events", "feedback")),
        _f("path", str, None, "file, glob or folder, relative to the config file (files are read in name order)",
           required=True),
        _f("format", str, None, "file format; default from the extension (`.gz` allowed)",
           choices=("csv", "parquet", "jsonl", "excel", "xes")),
        _f("delimiter", str, None, "CSV delimiter; sniffed when absent"),
        _f("encoding", str, "utf-8", "text encoding", choices=("utf-8", "latin-1", "cp1252", "utf-16")),
        _f("header", bool, True, "the CSV has a header line"),
        _f("sheet", str, None, "Excel sheet (default: the first)"),
        _f("decimal", str, ".", "decimal separator (`,` for numbers written 1.234,5)", choices=(".", ",")),
        _f("timezone", str, None, "zone of this source's naive timestamps (default: the config's)"),
        _f("timestamp_format", list, None, "strptime format or list of formats; default ISO-8601"),
        _f("duplicates", str, "drop", "`drop` rejects exact repeats of a line, `keep` loads them",
           choices=("drop", "keep")),
        _f("columns", dict, None, "canonical field: export column (a list is joined with '|')"),
        _f("constants", dict, None, "canonical field: fixed value for every row"),
        _f("maps", dict, None, "raw codes to canonical values: {from, values, default}"),
        _f("personal", list, None, "export columns to pseudonymise before loading"),
        _f("drop", list, None, "export columns not kept in `attributes`"),
        _f("instrument", str, None, "feedback only: the survey or channel of the answers",
           choices=("nps", "csat", "ces", "review", "complaint", "social")),
        _f("scale", list, None, "feedback only: [low, high]; nps defaults to [0, 10]"),
        _f("direction", str, "higher_is_better", "feedback only: which end of the scale is good",
           choices=("higher_is_better", "lower_is_better")),
        _f("redact_text", bool, True, "feedback only: personal data in `text` replaced before loading"),
        _f("where", str, None, "SQL condition over the export's columns (text): only rows where it is true load; "
           "the others count as filtered, not rejected"),
        _f("derive", dict, None, "new column: SQL expression over the export's columns; mapped like an export "
           "column, else kept in `attributes`"),
        _f("id", str, None, "customers only: `generated` gives every row a stable pseudonymised customer_id "
           "(source:file:line) for a table without an id column", choices=("generated",)),
        _f("max_reject_share", float, None, "this source's reject ceiling (default: the `limits:` one)", low=0,
           high=1),
    ),
    "designs": (
        _f("journeys", dict, None, "designed journeys: name -> path or inline design (cjworkbench/demo/onboarding.yml)"),
        _f("personas", dict, None, "persona rules: a path, an inline design, or name -> either"),
        _f("kpi_map", dict, None, "touchpoints with their customer and operational KPIs: a path or inline"),
        _f("themes", dict, None, "theme taxonomy of the comments: a path, an inline design, or name -> either"),
        _f("actions", dict, None, "next-best-action rules to back-test: a path, inline, or name -> either"),
        _f("roles", dict, None, "the KPI library's roles: role -> activity, list or {column: values}"),
        _f("targets", dict, None, "KPI targets: KPI -> number (shares as fractions)"),
        _f("funnels", dict, None, "named funnels: name -> {steps: [...], window: 2h}; the first is the default"),
        _f("goal", str, None, "the goal activity (default: the most common last activity of journeys)"),
        _f("instruments", dict, None, "feedback instrument -> {meaning, question}"),
        _f("labels", dict, None, "display names: raw activity, touchpoint, driver or column name -> the name "
           "tables, charts and headlines show (default: order_shipped reads 'Order shipped')"),
    ),
    "limits": (
        _f("max_decompressed_bytes", "size", 4 * 10**9, "a file's content after gunzip (plain files: their "
           "size); bytes or a size like 500MB, 4GB, 2GiB", low=1),
        _f("max_rows_per_source", int, 20_000_000, "lines of CSV/JSON lines, rows of Parquet/Excel, XES events",
           low=1),
        _f("max_columns", int, 1_000, "columns (JSON keys) of one file", low=1),
        _f("max_line_bytes", "size", 2_000_000, "a longer CSV/JSON line is rejected as `line too long`", low=1),
        _f("memory_limit", "size", 4 * 10**9, "DuckDB memory while staging (beyond it DuckDB spills)", low=1),
        _f("temp_limit", "size", 20 * 10**9, "DuckDB spill files beside the database", low=1),
        _f("stage_in_memory", "size", 2 * 10**9, "inputs whose staged rows fit in this and in half of "
           "memory_limit (about a CSV's size, 5x a gzip or Parquet file) stage in memory; bigger ones in a "
           "compressed scratch database in the spill folder (~10 % more CPU, bounded disk); 0: always on disk",
           low=0),
        _f("lock_wait_seconds", float, 600.0, "how long an ingest waits for another on the same database",
           low=0),
        _f("max_reject_share", float, 0.2, "share of a source's rows (exact repeats and rows left out by `where:` "
           "aside) that may be rejected; more, or every row, fails the ingest and keeps the previous database",
           low=0, high=1),
    ),
}
