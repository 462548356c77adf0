"""The report manifest (`OUT/<label>/report.json`) and the index of every period (`OUT/index.html`):
the newest period's summary across pages first (what changed most, worst hotspot, biggest hand-off gap,
score trend, each linked to its page), then every period's pages in the order a manager reads them,
each with its headline sentence; a page that failed is marked with its reason."""

from __future__ import annotations

import datetime as dt
import html
import json
import os
import uuid
from pathlib import Path

MANIFEST = "report.json"


def manifest(db: Path, period: str, cur, entries: list[dict], *, no_data: bool = False,
             parameters: dict | None = None) -> dict:
    """What one run made: the period, the database's name, the parameters given, one entry per page."""
    from ..version import __version__

    return {"label": cur.label, "period": period, "start_date": str(cur.start), "end_date": str(cur.end),
            "database": db.name, "generated": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cjworkbench_version": __version__, "no_data": no_data, "parameters": parameters or {},
            "notebooks": entries, "failed": [e["name"] for e in entries if e.get("status") == "failed"]}


# the summary that opens the index: (heading, page, headline figure), each linked to its page
SUMMARY = (("What changed most", "what_changed", "largest_change"), ("Worst hotspot", "overview", "worst_hotspot"),
           ("Biggest hand-off gap", "funnels_and_gaps", "handoff_gap"), ("Score trend", "voc", "score"))


def ordered(entries: list[dict]) -> list[dict]:
    """The pages in the order a manager reads them (`analysis.headline.PAGES`), other notebooks after, by name."""
    from ..analysis.headline import PAGES

    return sorted(entries, key=lambda n: (PAGES.index(n["name"]) if n["name"] in PAGES else len(PAGES), n["name"]))


def summary_html(r: dict) -> str:
    """The one-page summary of a period across pages: per SUMMARY item its headline figure in words (or
    why it is missing), linked to the page it comes from."""
    from .pages import page_title

    esc, items = html.escape, []
    pages = {n["name"]: n for n in r["notebooks"]}
    for heading, page, name in SUMMARY:
        n = pages.get(page)
        if n is None:
            continue
        figures = {f["figure"]: f for f in (n.get("headline") or {}).get("figures", [])}
        f = figures.get(name)
        if n.get("status") == "failed":
            text = "the page could not be made this run"
        elif f is None:
            text = "not in this report"
        else:
            text = f["sentence"] if f["available"] else f"not computed: {f['reason']}"
        colour = {"better": "#2e7d32", "worse": "#c62828"}.get((f or {}).get("verdict", ""), "#333")
        link = f"<a href=\"{esc(r['label'])}/{esc(n['html'])}\">{esc(page_title(n['title'], r['label']))}</a>"
        items.append(f"<li class=\"cjw-summary-item\"><strong>{esc(heading)}</strong>: "
                     f"<span style=\"color:{colour}\">{esc(text)}</span> ({link})</li>")
    if not items:
        return ""
    from ..formats import period_name

    return (f"<section class=\"cjw-summary\"><h2>{esc(period_name(r['label']))} at a glance</h2>"
            f"<ul>{''.join(items)}</ul></section>")


def _entry(r: dict, n: dict) -> str:
    from .pages import page_title

    esc = html.escape
    name = page_title(n["title"], r["label"])
    link = (f"<a href=\"{esc(r['label'])}/{esc(n['html'])}\" title=\"{esc(n['title'])}\">{esc(name)}</a>"
            if n.get("html") else esc(name))   # the page's question on hover
    if n.get("status") != "failed":
        said = (n.get("headline") or {}).get("sentence", "")
        return f"<li>{link}" + (f"<br><span class=\"cjw-page-headline\">{esc(said)}</span>" if said else "") + "</li>"
    kept = f" (showing the page made {esc(n['stale_from'])})" if n.get("stale_from") else ""
    return f"<li class=\"cjw-failed\">{link} <strong>failed</strong>{kept}: {esc(n.get('reason', ''))}</li>"


def write_index(out) -> Path:
    """`out/index.html`: one row per period (newest first), one link per notebook report."""
    out = Path(out)
    reports = []
    for d in sorted(out.iterdir(), reverse=True):
        if d.is_dir() and not d.name.startswith((".", "_")) and (d / MANIFEST).is_file():
            reports.append(json.loads((d / MANIFEST).read_text(encoding="utf-8")))
    esc = html.escape
    rows = "\n".join(f"<tr><th>{esc(r['label'])}</th><td>{esc(r['start_date'])} – {esc(r['end_date'])}"
                     f"{'<br><em>no data in this period</em>' if r.get('no_data') else ''}</td>"
                     f"<td><ul>{''.join(_entry(r, n) for n in ordered(r['notebooks']))}</ul></td>"
                     f"<td>{esc(r['generated'])}</td></tr>" for r in reports)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>cjworkbench reports</title>
<style>body{{font-family:Helvetica,Arial,sans-serif;margin:2rem;color:#333}}table{{border-collapse:collapse}}
th,td{{text-align:left;padding:.4rem .8rem;border-bottom:1px solid #ddd;vertical-align:top}}
ul{{margin:0;padding-left:1.1rem}}li{{margin:.15rem 0}}a{{color:#4c78a8}}li.cjw-failed{{color:#a33}}
.cjw-summary{{background:#f6f8fa;border-radius:6px;padding:.6rem 1rem;margin:0 0 1.2rem;max-width:60rem}}
.cjw-summary h2{{margin:.2rem 0 .5rem;font-size:1.2rem}}.cjw-page-headline{{color:#555;font-size:.9em}}</style>
</head><body><h1>Customer-journey reports</h1>
{summary_html(reports[0]) if reports else ""}
<p>{len(reports)} period(s). Each report opens without a network connection.</p>
<table><thead><tr><th>Period</th><th>Dates</th><th>Reports</th><th>Generated</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    tmp = out / f".index-{uuid.uuid4().hex}.html.tmp"   # a name no other run uses
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out / "index.html")
    return out / "index.html"
