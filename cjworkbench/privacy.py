"""Privacy in outputs: small groups suppressed, no raw personal data shown by default.

- `suppress_small(df, k=10)`: THE small-group rule (SMALL_GROUP_RULE), the same in API results
  (scores, sentiment, themes, drivers, segments apply it with their `k_min`) and in the faces
  (`k_min` of the notebooks): a row (a group: a segment, a cohort month, a funnel step of a
  breakdown, a driver) that counts fewer than `k` distinct customers gets `suppressed = True`;
  in outputs (`blank=True`, the faces) its metric values are blanked (NaN) too, and its labels
  stay so a reader knows the group exists. The
  count column is blanked too (a "3" would tell as much as the rate). Charts leave suppressed
  rows out and say in their caption how many were left out (`suppression_note`).
- `mask_personal(df)`: drops (or masks) columns whose names say they hold personal data:
  identifiers (customer_id, journey_id, case_id, ...), contact details, names, free text, and
  personal keys inside dict-valued columns such as `attributes`.
Both return a new DataFrame and keep `df.attrs` (the definition) with a note of what was done.
"""

from __future__ import annotations

import re

import pandas as pd

from .errors import PrivacyError, WorkbenchError, one_of  # noqa: F401  (re-exported)

K_DEFAULT = 10   # the notebooks' k_min and every analysis's default k_min
SMALL_GROUP_RULE = ("groups counting fewer than k_min customers (answers where customers are not counted) are "
                    "flagged suppressed = True in API results; charts, tables and dashboards blank them and "
                    "leave them out, saying how many")
# numeric columns that label a row rather than measure it; never blanked
LABEL_COLUMNS = ("step", "previous_step", "rank", "period_offset", "lower_seconds", "upper_seconds", "level")
PERSONAL = (
    r"(customer|journey|case|session|order|feedback|response|resp|subscriber|user|visitor|person|account|"
    r"member|client|contact|device)_?(id|key|no|nr|number|ref)",
    r"cust_?(id|no|nr|ref)", r"customer|client|user|subscriber|visitor|person", r"e_?mail(_?address)?",
    r"email_?addr", r"(mobile|tele)?phone(_?(number|no|nr))?",
    r"mobile", r"msisdn", r"(first|last|full|given|family|middle|sur|customer|user|display|contact)_?name",
    r"name", r"surname", r"text", r"verbatim", r"comments?", r"free_?text", r"message", r"body",
    r"(street|home|postal|billing|shipping)?_?address", r"street", r"post_?code", r"zip(_?code)?",
    r"ip(_?address)?", r"user_?agent", r"birth_?(date|day)", r"date_?of_?birth", r"dob", r"iban",
    r"(ssn|bsn|passport|national_id)(_?(number|no))?",
)
_PERSONAL_RE = re.compile("^(?:" + "|".join(PERSONAL) + ")$", re.IGNORECASE)
MASK = "[hidden]"


def suppress_small(df: pd.DataFrame, *, k: int = K_DEFAULT, count: str = "n_customers",
                   metrics=None, keep=LABEL_COLUMNS, blank: bool = True) -> pd.DataFrame:
    """Blank the metrics of rows counting fewer than `k` customers and mark them `suppressed`.

    `count` names the column with the distinct customers of each row (use a journey count only
    when no customer count exists: it is at least as large, so weaker); a list of columns makes a
    row small when any of them is below `k` (an NA in all but the first is ignored). `metrics` are the columns
    to blank (default: every numeric column except the labels in `keep`, including `count`).
    Rows with an unknown count are suppressed too: nothing unchecked is shown. `blank=False` only
    flags them (`suppressed`), as API results do: the analyst holds the database anyway, and every
    chart, table and dashboard built from the result blanks and leaves out the flagged rows.
    """
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise PrivacyError(f"k must be a whole number of customers of at least 1, got {k!r}.")
    names = [count] if isinstance(count, str) else list(count)
    for name in (n for n in names if n not in df.columns):
        counts = [c for c in df.columns if str(c).startswith("n_") or c == "n"] or list(df.columns)
        raise PrivacyError(one_of("count column", name, counts) + " Pass count= with the column that "
                           "holds each group's number of distinct customers.")
    if metrics is None:
        metrics = [c for c in df.columns if c not in keep and c != "suppressed"
                   and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    else:
        metrics = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in metrics if m not in df.columns]
        if unknown:
            raise PrivacyError(one_of("metric column", unknown[0], list(df.columns)))
    n = pd.to_numeric(df[names[0]], errors="coerce")
    small = (n < k) | n.isna()
    for name in names[1:]:
        small |= pd.to_numeric(df[name], errors="coerce").lt(k).fillna(False).astype(bool)
    if "suppressed" in df.columns:  # already suppressed at another k stays suppressed
        small |= df["suppressed"].fillna(False).astype(bool)
    out = df.copy()
    for col in metrics if blank else ():
        if small.any():
            out[col] = out[col].astype("float64") if pd.api.types.is_integer_dtype(out[col]) else out[col]
            out.loc[small, col] = float("nan")
    out["suppressed"] = small.to_numpy(dtype=bool)
    out.attrs = {**df.attrs, "suppression": {"k": k, "count": count, "n_suppressed": int(small.sum()),
                                             "n_rows": len(df), "metrics": metrics}}
    return out


def suppression_note(df: pd.DataFrame) -> str:
    """A caption sentence: how many groups were suppressed and why ('' when none or not checked)."""
    info = df.attrs.get("suppression") if isinstance(df, pd.DataFrame) else None
    if not info:
        return ""
    n, k = info["n_suppressed"], info["k"]
    if n == 0:
        return f"Privacy: every group counts at least {k} customers."
    groups = "group" if n == 1 else "groups"
    return f"Privacy: {n} {groups} with fewer than {k} customers not shown."


def is_personal(name: str) -> bool:
    """True when a column name says it holds personal data (see PERSONAL)."""
    return bool(_PERSONAL_RE.match(str(name).strip()))


def mask_personal(df: pd.DataFrame, *, how: str = "drop", keep=(), extra=()) -> pd.DataFrame:
    """`df` without raw personal data: personal columns dropped (`how="drop"`) or their values
    replaced by '[hidden]' (`how="mask"`), personal keys removed from dict-valued columns.

    `keep` lists columns to show anyway (e.g. `name` in hotspots_table, an activity label);
    `extra` adds column names to treat as personal.
    """
    if how not in ("drop", "mask"):
        raise PrivacyError(one_of("how", how, ("drop", "mask")))
    keep, extra = set(keep), set(extra)
    personal = [c for c in df.columns if c not in keep and (is_personal(c) or c in extra)]
    out = df.drop(columns=personal) if how == "drop" else df.copy()
    if how == "mask":
        for col in personal:
            out[col] = out[col].astype(object).where(out[col].isna(), MASK)
    for col in out.columns:
        if col not in personal and out[col].dtype == object and _holds_dicts(out[col]):
            out[col] = out[col].map(lambda d: {k: v for k, v in d.items() if not is_personal(k)}
                                    if isinstance(d, dict) else d)
    out.attrs = {**df.attrs, "personal_columns": {"how": how, "columns": personal}}
    return out


def _holds_dicts(col: pd.Series) -> bool:
    first = col.dropna().head(20)
    return any(isinstance(v, dict) for v in first)
