"""Sentiment of feedback texts, per response and per group, from a model that ships with its package.

Model: VADER (vaderSentiment 3.3.2, MIT; its lexicon is inside the wheel, nothing is downloaded)
with the customer-experience layer (lexicon="cx", the default): the terms of
`sentiment_lexicon.txt` (service failures such as delayed, cancelled, on hold, never arrived are
negative; request words VADER reads as praise, such as help and please, are neutral), @handles and
links dropped (names, not words), "7hours" split, and courtesy words (thanks, please, hope) dropped
from a text that reports a failure ("thanks for the 3 hour delay"). lexicon="vader" is the plain
model; a mapping {term: valence} adds terms on top of "cx". Labels use VADER's published
thresholds: compound >= +0.05 positive, <= -0.05 negative, else neutral.

Measured on 14,640 labelled airline tweets (benchmarks/sentiment.py; held-out half): accuracy
0.640, macro-F1 0.590, against 0.624 / 0.256 for the majority class and 0.552 / 0.518 for plain VADER.

Scoring runs in Python: only (feedback_id, text, group columns) rows leave the engine; each
distinct text is scored once and cached per process (dashboards re-ask the same texts).
"""

from __future__ import annotations

import html
import re
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import SentimentError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ...scope import definition, scope
from .scores import BY as SCORE_BY
from .scores import FEEDBACK_FILTERS, NONE, group_columns, mean_interval, nps_interval, with_groups
from ..stats import wilson_interval
from ...cache import remember

LEXICON_FILE = Path(__file__).with_name("sentiment_lexicon.txt")
NEUTRAL_BAND = 0.05
LABELS = ("negative", "neutral", "positive")
BY = (*SCORE_BY, "theme")
MODEL = ("vaderSentiment 3.3.2 (Hutto & Gilbert 2014, lexicon in the wheel) + cjworkbench customer-experience "
         "lexicon (sentiment_lexicon.txt)")
LABEL_RULE = "positive: compound >= +band, negative: compound <= -band, else neutral (band 0.05 = VADER's)"
RESPONSE_COLUMNS = ("feedback_id", "customer_id", "instrument", "touchpoint", "channel", "feedback_ts", "score")
_CACHE_LIMIT = 500_000
FAILURE_VALENCE = -1.0  # a term this negative (or more) in the cx lexicon reports a service failure
COURTESY = ("thanks", "thank", "thx", "ty", "please", "appreciate", "appreciated", "hope", "hoping", "hopefully")
_COURTESY = re.compile(r"(?<![\w'])(?:" + "|".join(COURTESY) + r")(?![\w'])", re.I)
_DIGITS = re.compile(r"(\d)([a-z]{2,})", re.I)
_NAMES = re.compile(r"(?<![\w@])@\w+|https?://\S+|\bwww\.\S+")


def read_lexicon(path=LEXICON_FILE) -> dict[str, float]:
    """{term: valence} from a `term<TAB>valence<TAB>why` file (# comments; a term may be a phrase)."""
    terms = {}
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            term, valence, *_ = line.split("\t")
            try:
                terms[term.strip().lower()] = float(valence)
            except ValueError:
                raise SentimentError(f"{path}:{i}: valence must be a number, got {valence!r}.") from None
    return terms


class _Scorer:
    """A VADER analyzer with extra terms; phrases are joined into one token (`on hold` -> `on_hold`)."""

    def __init__(self, terms: dict[str, float], *, clean: bool = True):
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError:
            raise SentimentError("Sentiment needs the vaderSentiment package: pip install vaderSentiment==3.3.2"
                                 ) from None
        self.analyzer = SentimentIntensityAnalyzer()
        phrases = []
        for term, valence in terms.items():
            words = term.split()
            key = "_".join(words)
            if len(words) > 1:
                phrases.append(r"\s+".join(re.escape(w) for w in words))
            if valence == 0:  # 0 takes a word out, so e.g. "no help" is still read as "no" + negation
                self.analyzer.lexicon.pop(key, None)
            else:
                self.analyzer.lexicon[key] = float(valence)
        failures = [re.escape("_".join(t.split())) for t, v in terms.items() if v <= FAILURE_VALENCE]
        self.failure = re.compile(r"(?<![\w'])(?:" + "|".join(failures) + r")(?![\w'])", re.I) if failures else None
        phrases.sort(key=len, reverse=True)
        self.phrases = re.compile(r"(?<![\w'])(?:" + "|".join(phrases) + r")(?![\w'])", re.I) if phrases else None
        self.clean = clean
        self.cache: dict[str, float] = {}

    def prepare(self, text: str) -> str:
        text = html.unescape(text).replace("\u2019", "'")
        if self.clean:  # @handles and links are names, not words ("@united" would read as "united" +1.8)
            text = _DIGITS.sub(r"\1 \2", _NAMES.sub(" ", text))  # "7hours" -> "7 hours"
        text = self.phrases.sub(lambda m: "_".join(m.group(0).split()), text) if self.phrases else text
        if self.clean and self.failure and self.failure.search(text):  # "thanks for the 3 hour delay"
            text = _COURTESY.sub(" ", text)
        return text

    def score(self, text) -> float:
        if not isinstance(text, str) or not text.strip():
            return float("nan")
        if text not in self.cache:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = self.analyzer.polarity_scores(self.prepare(text))["compound"]
        return self.cache[text]


_SCORERS = SimpleNamespace()   # scorers built once per process (`cjworkbench.cache`, kind "object")


def _scorer(key: tuple) -> _Scorer:
    def build() -> _Scorer:
        name, extra = key
        terms = read_lexicon() if name == "cx" else {}
        return _Scorer({**terms, **dict(extra)}, clean=name == "cx")

    return remember(_SCORERS, "object", key, build)


def _key(lexicon) -> tuple:
    if isinstance(lexicon, dict):
        return "cx", tuple(sorted((str(k).lower(), float(v)) for k, v in lexicon.items()))
    if lexicon not in ("cx", "vader"):
        raise SentimentError(one_of("lexicon", lexicon, ("cx", "vader")) + " (or a mapping {term: valence}).")
    return lexicon, ()


def score_texts(texts, *, lexicon="cx") -> np.ndarray:
    """VADER compound score (-1 .. +1) per text; NaN for a missing or blank text."""
    scorer = _scorer(_key(lexicon))
    return np.array([scorer.score(t) for t in texts], dtype=float)


def sentiment_labels(compound, *, neutral_band: float = NEUTRAL_BAND) -> np.ndarray:
    """negative / neutral / positive per compound score (None where the score is NaN)."""
    c = np.asarray(compound, dtype=float)
    out = np.where(c >= neutral_band, "positive", np.where(c <= -neutral_band, "negative", "neutral")).astype(object)
    out[np.isnan(c)] = None
    return out


def scored_responses(con, *, cols=(), filters=None, instrument=None, text_column: str = "text", lexicon="cx",
                     neutral_band: float = NEUTRAL_BAND, personas=None, period=None) -> pd.DataFrame:
    """One row per feedback row with a text: RESPONSE_COLUMNS, group columns, compound, label."""
    fb = scope(con, filters).feedback(instrument)
    strings = [c for c, t in fb.schema().items() if t.is_string()]
    if text_column not in strings:
        raise SentimentError(one_of("text_column", text_column, strings))
    fb = fb.filter(fb[text_column].notnull() & (fb[text_column].strip() != ""))
    fb = with_groups(con, fb, [c for c in cols if c != "theme"], personas=personas, period=period)
    keep = dict.fromkeys([*RESPONSE_COLUMNS, *(c for c in cols if c != "theme")])
    df = fb.select(*keep, _text=fb[text_column]).execute()
    df["compound"] = score_texts(df.pop("_text"), lexicon=lexicon)
    df["label"] = sentiment_labels(df["compound"], neutral_band=neutral_band)
    return df


def _themes(con, df: pd.DataFrame, taxonomy, filters) -> pd.DataFrame:
    """Responses repeated once per matched theme; unmatched responses in the '(none)' theme."""
    try:
        from .themes import theme_matches
    except ImportError:
        raise SentimentError("by='theme' needs cjworkbench.analysis.voc.themes (theme_matches), which this "
                             "installation does not have.") from None
    if taxonomy is None:
        raise SentimentError("by='theme' needs taxonomy=: a themes YAML path or mapping.")
    m = theme_matches(con, taxonomy=taxonomy, filters=filters)[["feedback_id", "theme"]].drop_duplicates()
    out = df.merge(m, on="feedback_id", how="left")
    out["theme"] = out["theme"].fillna(NONE)
    return out


def _summary(g: pd.DataFrame, level: float) -> dict:
    c = g["compound"].to_numpy(float)
    n = len(c)
    counts = {lab: int((g["label"] == lab).sum()) for lab in LABELS}
    m = mean_interval(n, float(c.mean()) if n else float("nan"), float(c.var(ddof=1)) if n > 1 else float("nan"),
                      level=level)
    net = nps_interval(counts["positive"], counts["negative"], n, level=level)
    neg, pos = wilson_interval(counts["negative"], n, level=level), wilson_interval(counts["positive"], n, level=level)
    return {"n_answers": n, "mean_compound": m.estimate, "mean_low": m.low, "mean_high": m.high,
            "negative_rate": neg.estimate, "negative_low": neg.low, "negative_high": neg.high,
            "neutral_rate": counts["neutral"] / n if n else float("nan"),
            "positive_rate": pos.estimate, "positive_low": pos.low, "positive_high": pos.high,
            "net_sentiment": net.estimate, "net_low": net.low, "net_high": net.high}


def sentiment_table(con, *, by=None, filters=None, instrument=None, text_column: str = "text", lexicon="cx",
                    neutral_band: float = NEUTRAL_BAND, period: str | None = None, personas=None, taxonomy=None,
                    level: float = 0.95, min_n: int = 30) -> pd.DataFrame:
    """Sentiment of the feedback texts. `by=None`: one row per response (RESPONSE_COLUMNS, compound,
    label; no text, so no verbatim leaks into a dashboard table). `by` (touchpoint, channel, source,
    instrument, segment, persona, period, theme): per group n_answers, mean compound (t interval), negative /
    positive rates (Wilson), net_sentiment = 100 × (positive − negative) / n (multinomial Wald
    interval, as NPS), and `small` for n_answers < min_n. `instrument` keeps some instruments only."""
    asked = [] if by is None else [by] if isinstance(by, str) else list(by)
    for c in asked:
        if c not in BY:
            raise SentimentError(one_of("by", c, BY))
    cols, period = group_columns([c for c in asked if c != "theme"], period)
    cols += ["theme"] if "theme" in asked else []
    df = scored_responses(con, cols=cols, filters=filters, instrument=instrument, text_column=text_column,
                          lexicon=lexicon, neutral_band=neutral_band, personas=personas, period=period)
    if "theme" in cols:
        df = _themes(con, df, taxonomy, filters)
    about = dict(model=MODEL if lexicon != "vader" else "vaderSentiment 3.3.2", lexicon=_key(lexicon)[0],
                 labels=LABEL_RULE.replace("0.05", f"{neutral_band:g}", 1) if neutral_band != NEUTRAL_BAND
                 else LABEL_RULE, instrument=instrument, text_column=text_column,
                 filters=scope(con, filters).describe(), filter_rules=FEEDBACK_FILTERS)
    if not cols:
        return definition(df.reset_index(drop=True), analysis="sentiment per response", **about)
    rows = [{**dict(zip(cols, key if isinstance(key, tuple) else (key,))), **_summary(g, level)}
            for key, g in df.groupby(cols, sort=True, dropna=False)]
    out = pd.DataFrame(rows, columns=None if rows else [*cols, "n_answers", "mean_compound", "net_sentiment"])
    out["small"] = out["n_answers"] < min_n
    return definition(out, analysis="sentiment", by=cols, period=period, level=level, min_n=min_n,
                      net_sentiment="100 × (positive − negative) / n, Wald interval with the multinomial variance",
                      **about)
