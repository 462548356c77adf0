"""Themes in verbatims: a configurable taxonomy of keywords and patterns, matched in the engine.

A taxonomy maps each theme to `keywords` (whole words or phrases; a trailing `*` matches any
word ending, `verif*`), `patterns` (regular expressions) and optional `exclude` patterns that
veto a match (`late` but not `too late to matter`). Matching is case-insensitive and runs as
Ibis `re_search` on `lower(text)`, so it stays inside the portable subset (DuckDB and Spark);
patterns must therefore use syntax RE2 and Java share (no look-arounds, no back-references).

Languages: a taxonomy lists the keywords of every language its comments are written in, in one list
(`late`, `te laat`, `atrasado`); accented keywords also match text typed without accents.

Results count feedback rows with a non-empty `text` ("comments"); one comment can carry several
themes, so shares do not add up to 100 %.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import ibis
import ibis.expr.types as ir
import pandas as pd

from ...designs.reader import read_yaml
from ...errors import ThemeError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ...periods import PERIODS, check_period, period_start  # noqa: F401  (PERIODS re-exported)
from ...privacy import suppress_small
from ...scope import FEEDBACK_RULE, definition, scope

_META = set(r"\.^$|?*+()[]{}")
_NOT_PORTABLE = ("(?=", "(?!", "(?<=", "(?<!", "(?P<", "(?<")
_THEME_KEYS = ("keywords", "patterns", "exclude", "description")
BY = ("touchpoint", "channel", "instrument", "source", "period")


def load_taxonomy(taxonomy: str | Path | dict) -> dict[str, dict]:
    """Validate a taxonomy (YAML path or dict) into {theme: {"match": regex, "exclude": regex|None,
    "description": str}}; the regexes are case-insensitive and portable."""
    doc = read_yaml(taxonomy, error=ThemeError, what="Theme taxonomy", example="designed/themes.yml")
    if isinstance(doc, dict) and isinstance(doc.get("themes"), dict):
        doc = doc["themes"]
    if not isinstance(doc, dict) or not doc:
        raise ThemeError("A theme taxonomy must be a non-empty mapping of theme name to keywords and/or "
                         "patterns, e.g. {'late_delivery': {'keywords': ['late', 'still waiting']}}.")
    return {str(name): _theme(str(name), spec) for name, spec in doc.items()}


def _theme(name: str, spec) -> dict:
    if isinstance(spec, (list, tuple, str)):
        spec = {"keywords": spec}
    if not isinstance(spec, dict):
        raise ThemeError(f"Theme '{name}' must be a list of keywords or a mapping with keywords/patterns, "
                         f"got {type(spec).__name__}.")
    unknown = sorted(set(spec) - set(_THEME_KEYS))
    if unknown:
        raise ThemeError(f"Theme '{name}': " + one_of("key", unknown[0], _THEME_KEYS))
    alternatives = [keyword_regex(k) for k in _strings(spec.get("keywords"), name, "keywords")]
    alternatives += [_pattern(p, name) for p in _strings(spec.get("patterns"), name, "patterns")]
    if not alternatives:
        raise ThemeError(f"Theme '{name}' has no keywords or patterns; give at least one.")
    exclude = [_pattern(p, name) for p in _strings(spec.get("exclude"), name, "exclude")]
    return {"match": _either(alternatives), "exclude": _either(exclude) if exclude else None,
            "description": str(spec.get("description") or "")}


def _strings(value, name: str, key: str) -> list[str]:
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, (str, int, float)) for v in values):
        raise ThemeError(f"Theme '{name}': '{key}' must be a string or a list of strings.")
    out = [str(v).strip() for v in values]
    if any(not v for v in out):
        raise ThemeError(f"Theme '{name}': '{key}' contains an empty entry; remove it.")
    return out


def keyword_regex(keyword: str) -> str:
    """A keyword or phrase as a whole-word regex: spaces match any whitespace, a trailing `*`
    any word ending (`verif*` matches verify, verification). Any language: an accented letter also
    matches its plain form ("não" matches "nao", as people type), and a keyword that starts or ends
    with a non-ASCII letter gets a Latin-letter word edge (RE2's `\\b` is ASCII-only: `\\bótimo\\b`
    would never match; `\\pL` is not in Python's `re`)."""
    stem, wildcard = (keyword[:-1], True) if keyword.endswith("*") else (keyword, False)
    body = r"\s+".join("".join(_letter(c) for c in word) for word in stem.lower().split())
    start = (r"\b" if stem[:1].isascii() else _EDGE_START) if re.match(r"\w", stem) else ""
    end = (_LETTERS + "*" if not stem.isascii() else r"\w*") if wildcard else \
        ((r"\b" if stem[-1:].isascii() else _EDGE_END) if re.search(r"\w$", stem) else "")
    return start + body + end


_LETTERS = "[0-9A-Za-z_\u00c0-\u024f]"  # ASCII word characters and the Latin letters with diacritics
_EDGE_START, _EDGE_END = "(?:^|[^" + _LETTERS[1:] + ")", "(?:[^" + _LETTERS[1:] + "|$)"


def _letter(c: str) -> str:
    """One keyword character as a regex: escaped if special; an accented letter as [accented plain]."""
    if c in _META:
        return "\\" + c
    plain = "".join(x for x in unicodedata.normalize("NFKD", c) if not unicodedata.combining(x))
    return f"[{c}{plain}]" if plain and plain != c and len(plain) == 1 else c


def _pattern(pattern: str, name: str) -> str:
    pattern = re.sub(r"^\(\?i\)", "", pattern)
    if any(tok in pattern for tok in _NOT_PORTABLE) or re.search(r"\\[1-9]", pattern):
        raise ThemeError(f"Theme '{name}': pattern '{pattern}' uses look-arounds, named groups or "
                         "back-references, which the engines (DuckDB RE2, Spark) do not share. "
                         "Rewrite it with plain alternatives, or use `exclude:` to veto matches.")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ThemeError(f"Theme '{name}': pattern '{pattern}' is not a valid regular expression ({exc}).") from None
    return pattern


def _either(parts: list[str]) -> str:
    return "(?i)" + "|".join(f"(?:{p})" for p in parts)


def feedback_rows(con, filters=None, *, instrument: str | tuple[str, ...] | None = None) -> ir.Table:
    """Feedback answers in scope (`scope.FEEDBACK_RULE`); `instrument` narrows further."""
    return scope(con, filters).feedback(instrument)


def comments(fb: ir.Table) -> ir.Table:
    """Rows with a non-empty text."""
    return fb.filter(fb.text.notnull() & (fb.text.strip().length() > 0))


def mentions(fb: ir.Table, spec: dict) -> ir.BooleanValue:
    """True where the row's text matches a theme (False for a missing text)."""
    low = fb.text.lower()
    cond = low.re_search(spec["match"])
    if spec["exclude"]:
        cond &= ~low.re_search(spec["exclude"])
    return cond.fill_null(False)


def matched(fb: ir.Table, tax: dict[str, dict]) -> ir.Table:
    """(all columns of fb, theme): one row per (comment, matching theme), as one engine expression."""
    fb = comments(fb)
    parts = [fb.filter(mentions(fb, spec)).mutate(theme=ibis.literal(name)) for name, spec in tax.items()]
    return parts[0] if len(parts) == 1 else ibis.union(*parts, distinct=False)


def theme_matches(con, *, taxonomy, filters=None) -> pd.DataFrame:
    """One row per (feedback response, theme it mentions): columns `feedback_id`, `theme`.

    Rows without text have no themes; a response mentioning no theme has no row."""
    tax = load_taxonomy(taxonomy)
    m = matched(feedback_rows(con, filters), tax).select("feedback_id", "theme")
    df = m.to_pandas()
    order = {name: i for i, name in enumerate(tax)}
    df = (df.assign(_o=df["theme"].map(order)).sort_values(["feedback_id", "_o"], kind="stable")
          .drop(columns="_o").reset_index(drop=True))
    df["theme"] = df["theme"].astype(str)
    return definition(df, unit="feedback response with a non-empty text", taxonomy=_describe(tax),
                      filters=scope(con, filters).describe() or None,
                      filter_rules=FEEDBACK_RULE)


def _describe(tax: dict[str, dict]) -> dict:
    return {k: {"match": v["match"], **({"exclude": v["exclude"]} if v["exclude"] else {})} for k, v in tax.items()}


def group_columns(fb: ir.Table, by, period: str) -> tuple[ir.Table, list[str]]:
    """fb with the `by` columns (touchpoint, channel, instrument, source, period) checked and added."""
    cols = [] if by is None else ([by] if isinstance(by, str) else list(by))
    for c in cols:
        if c not in BY:
            raise ThemeError(one_of("by column", c, BY))
    if "period" in cols:
        check_period(period, ThemeError)
        fb = fb.mutate(period=period_start(fb.feedback_date, period))   # business periods
    return fb, cols


def themes_table(con, *, taxonomy, by=None, filters=None, instrument=None, period: str = "month",
                 level: float = 0.95, n_examples: int = 3) -> pd.DataFrame:
    """Share of comments mentioning each theme, with its Wilson interval and example verbatims.

    One row per (`by` group, theme): `n_mentions` comments with the theme out of `n_comments`
    comments (feedback rows with a non-empty text) in the group, `theme_rate` with `low`/`high`,
    and up to `n_examples` distinct matching verbatims, most recent first (redacted again, in case the
    source was loaded with `redact_text: false`). `by`: touchpoint, channel, instrument, source or
    period (`period`: day, week, month, quarter, year of feedback_ts); `instrument` narrows the rows.
    """
    from ...redact import redact_series
    from ..stats import wilson_interval

    tax = load_taxonomy(taxonomy)
    fb, cols = group_columns(feedback_rows(con, filters, instrument=instrument), by, period)
    denom = comments(fb).group_by(cols).aggregate(n_comments=ibis._.count()) if cols else \
        comments(fb).aggregate(n_comments=ibis._.count())
    m = matched(fb, tax)
    counts = m.group_by(cols + ["theme"]).aggregate(n_mentions=m.count())
    texts = m.group_by(cols + ["theme", "text"]).aggregate(last_ts=m.feedback_ts.max(), last_seq=m.seq.max())
    w = ibis.window(group_by=cols + ["theme"], order_by=[ibis.desc("last_ts"), ibis.desc("last_seq"), "text"])
    ex = texts.mutate(k=ibis.row_number().over(w))  # 0-based
    ex = ex.filter(ex.k < n_examples).select(*cols, "theme", "k", "text").to_pandas()
    groups = denom.to_pandas()
    themes = pd.DataFrame({"theme": list(tax), "description": [t["description"] for t in tax.values()]})
    df = groups.merge(themes, how="cross").merge(counts.to_pandas(), on=cols + ["theme"], how="left")
    df["n_mentions"] = df["n_mentions"].fillna(0).astype("int64")
    ci = [wilson_interval(int(x), int(n), level=level) for x, n in zip(df["n_mentions"], df["n_comments"])]
    df["theme_rate"], df["low"], df["high"] = ([c[i] for c in ci] for i in range(3))
    ex["text"] = redact_series(ex["text"].astype(object))
    examples = ex.sort_values("k").groupby(cols + ["theme"], dropna=False)["text"].agg(list).rename("examples")
    df = df.merge(examples.reset_index(), on=cols + ["theme"], how="left")  # merge matches missing keys too
    df["examples"] = [e if isinstance(e, list) else [] for e in df["examples"]]
    order = {name: i for i, name in enumerate(tax)}
    df = df.sort_values(cols + ["theme"], key=lambda s: s.map(order) if s.name == "theme" else s, kind="stable")
    df = df[cols + ["theme", "n_mentions", "n_comments", "theme_rate", "low", "high", "examples", "description"]]
    df = suppress_small(df, count="n_comments", blank=False)   # privacy.SMALL_GROUP_RULE: flagged (issue #14)
    return definition(df.reset_index(drop=True), unit="comment (feedback response with a non-empty text)",
                      measure="share of comments whose text matches the theme (case-insensitive), Wilson interval",
                      level=level, instrument=instrument, by=cols or None, period=period if "period" in cols else None,
                      taxonomy=_describe(tax), filters=scope(con, filters).describe() or None,
                      filter_rules=FEEDBACK_RULE)
