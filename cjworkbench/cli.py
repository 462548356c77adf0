"""`cjw`: the command line. Errors come out as one clear message and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import WorkbenchError

EXIT_USER_ERROR = 2
_READ_DB = "DuckDB file built by `cjw ingest`, or spark:<Parquet export folder or Spark database> (README: Beyond one machine)"
EXIT_INTERNAL = 3
EXIT_PARTIAL = 1      # `cjw report`: some pages failed, the others are published


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cjw", description="Customer-journey analytics workbench.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = parser.add_subparsers(dest="command", required=True)

    ing = sub.add_parser("ingest", help="load exports into the canonical DuckDB model")
    ing.add_argument("--config", required=True, help="ingest config (YAML)")
    ing.add_argument("--db", required=True, help="DuckDB file to build (swapped in on success)")
    ing.add_argument("--json", action="store_true", help="print a machine-readable summary")
    ing.add_argument("--strict", action="store_true", help="fail (and keep the old database) on any reject")
    ing.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    ing.add_argument("--new-key", action="store_true",
                     help="accept a pseudonymisation key other than the one the existing database was built "
                          "with (every pseudonymised id changes)")
    ing.add_argument("--full", action="store_true",
                     help="rebuild from every file instead of refreshing (loading only new and changed files)")

    des = sub.add_parser("designs", help="replace the designs, business time zone and languages a database "
                                         "carries, from the ingest config, without re-ingesting")
    des.add_argument("--config", required=True, help="ingest config (YAML): only designs:, timezone: and languages: "
                                                     "are read")
    des.add_argument("--db", required=True, help="DuckDB file built by `cjw ingest` (swapped in on success)")
    des.add_argument("--json", action="store_true", help="print what changed as JSON")

    info = sub.add_parser("info", help="tables, row counts, date ranges, sources and rejects")
    info.add_argument("--db", required=True, help=_READ_DB)
    info.add_argument("--json", action="store_true")

    exp = sub.add_parser("export", help="write the canonical tables as partitioned Parquet")
    exp.add_argument("--db", required=True)
    exp.add_argument("--parquet", required=True, metavar="DIR")

    demo = sub.add_parser("demo-data", help="generate the demo exports with planted effects")
    demo.add_argument("out_dir")
    demo.add_argument("--customers", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=7)

    serve = sub.add_parser("serve", help="serve the Voilà dashboards on a database (read-only)")
    serve.add_argument("--db", required=True, help=_READ_DB)
    serve.add_argument("--port", type=int, default=8866)
    serve.add_argument("--no-browser", action="store_true", help="only print the URL")
    serve.add_argument("--ip", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1); any other needs $CJW_SERVE_TOKEN "
                            "or --unauthenticated")
    serve.add_argument("--unauthenticated", action="store_true",
                       help="allow a non-loopback --ip without a token: only behind a reverse proxy that authenticates")
    serve.add_argument("--max-sessions", type=int, default=None, metavar="N",
                       help="most dashboard kernels (~0.25 GB each) alive at once; more page loads are asked "
                            "to wait (their page retries by itself); the --pool counts (default: as many as fit in "
                            "half of the free memory, at most 6 GB: 24 on a 24 GB machine)")
    serve.add_argument("--idle-timeout", type=int, default=None, metavar="SECONDS",
                       help="end a session whose tab is closed after this long (default 60)")
    serve.add_argument("--pool", type=int, default=None, metavar="N",
                       help="overview kernels kept ready for the next viewers (default: up to 20, 4 below "
                            "--max-sessions; 0: none); they count against --max-sessions")

    lab = sub.add_parser("lab", help="open JupyterLab on the notebooks against a database")
    lab.add_argument("--db", required=True, help=_READ_DB)
    lab.add_argument("--notebooks", metavar="DIR", default=None, help="notebook folder (default: notebooks/)")
    lab.add_argument("--port", type=int, default=8888)
    lab.add_argument("--no-browser", action="store_true", help="only print the URL")

    rep = sub.add_parser("report", help="run the report notebooks for one period into offline HTML")
    rep.add_argument("--db", required=True, help=_READ_DB)
    rep.add_argument("--period", default="month", choices=["week", "month", "quarter", "year"])
    rep.add_argument("--as-of", required=True, help="a day of the period to report, usually its last (2026-06-30)")
    rep.add_argument("--out", required=True, metavar="DIR", help="reports folder: DIR/<period>/*.html, DIR/index.html")
    rep.add_argument("--notebooks", nargs="+", metavar="PATH", help="notebooks or folders (default: notebooks/)")
    rep.add_argument("--timeout", type=float, default=600, help="seconds a notebook cell may run (default 600)")
    rep.add_argument("--param", "-p", action="append", metavar="NAME=VALUE",
                     help="a notebook parameter for every notebook that declares it, e.g. -p k_min=20 "
                          "(repeatable; wins over the config's report: parameters)")
    rep.add_argument("--config", metavar="FILE", help="ingest config whose `report: parameters:` block sets "
                                                      "notebook parameters")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        return _COMMANDS[args.command](args) or 0
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted; nothing was changed", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: say so plainly, traceback only on request
        if args.debug:
            raise
        print(f"internal error: {type(exc).__name__}: {exc}\n(run `cjw --debug ...` for the traceback "
              f"and please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _ingest(args) -> int:
    from .ingest import run_ingest

    progress = None if args.quiet else (lambda msg: print(msg, file=sys.stderr, flush=True))
    summary = run_ingest(args.config, args.db, strict=args.strict, new_key=args.new_key, full=args.full,
                         progress=progress)
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format_text())
    return 0


def _info(args) -> int:
    from .db import connect, describe

    info = describe(connect(args.db))
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"database: {args.db}")
    for name, n in info["tables"].items():
        rng = info["time_ranges"].get(name)
        span = f"  {rng[0]} .. {rng[1]}" if rng and rng[0] else ""
        print(f"  {name:<12} {n:>12,} rows{span}")
    print("sources:")
    for s in info["sources"]:
        print(f"  {s['source']:<24} {s['table']:<10} {s['rows']:>12,}")
    if info.get("rejects"):
        print("rejects:")
        for r in info["rejects"]:
            print(f"  {r['source']:<24} {r['reason']:<28} {r['rows']:>10,}")
    return 0


def _export(args) -> int:
    from .export import export_parquet

    for table, n in export_parquet(args.db, args.parquet).items():
        print(f"{table}: {n:,} rows -> {Path(args.parquet) / table}")
    return 0


def _demo_data(args) -> int:
    from .demo import generate

    result = generate(args.out_dir, customers=args.customers, seed=args.seed)
    print(json.dumps(result, indent=2, default=str))
    return 0


def _serve(args) -> int:
    import os

    from .dashboards import IDLE_TIMEOUT, TOKEN_ENV, serve

    return serve(args.db, port=args.port, open_browser=not args.no_browser, ip=args.ip,
                 max_kernels=args.max_sessions,   # None: sized from free memory (`serving.sizes`)
                 idle_timeout=IDLE_TIMEOUT if args.idle_timeout is None else args.idle_timeout,
                 token=os.environ.get(TOKEN_ENV) or None, unauthenticated=args.unauthenticated,
                 pool=args.pool)


_COMMANDS = {"ingest": _ingest, "info": _info, "export": _export, "demo-data": _demo_data, "serve": _serve}


def _report(args) -> int:
    from .reports import run_report

    from .reports import from_command_line, from_config

    given = {**(from_config(args.config) if args.config else {}), **from_command_line(args.param)}
    manifest = run_report(args.db, period=args.period, as_of=args.as_of, out=args.out, notebooks=args.notebooks,
                          timeout=args.timeout, parameters=given,
                          progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    empty = " (no data in this period)" if manifest.get("no_data") else ""
    print(f"{len(manifest['notebooks'])} report(s) for {manifest['label']}{empty} in "
          f"{Path(args.out) / manifest['label']}; index: {Path(args.out) / 'index.html'}")
    failed = [e for e in manifest["notebooks"] if e.get("status") == "failed"]
    for e in failed:
        print(f"error: {e['reason']}", file=sys.stderr)
    if failed:
        print(f"error: {len(failed)} of {len(manifest['notebooks'])} page(s) failed; the others are published "
              f"and the index marks the failed ones.", file=sys.stderr)
    return EXIT_PARTIAL if failed else 0


_COMMANDS["report"] = _report


def _designs(args) -> int:
    from .designs.update import update_designs

    report = update_designs(args.config, args.db, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for what in ("added", "changed", "removed"):
            print(f"{what}: {', '.join(report[what]) or 'none'}")
        if report["timezone"]:
            print(f"business time zone: {report['timezone'][0]} -> {report['timezone'][1]} (business dates "
                  f"recomputed: {report['business_dates_changed']})")
    return 0


_COMMANDS["designs"] = _designs


def _lab(args) -> int:
    from .lab import lab
    from .reports import NOTEBOOKS

    return lab(args.db, args.notebooks or NOTEBOOKS, port=args.port, open_browser=not args.no_browser)


_COMMANDS["lab"] = _lab

if __name__ == "__main__":
    sys.exit(main())
