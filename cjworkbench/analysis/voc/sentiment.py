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

Languages (issue #14): each text is scored in its own language, detected by `language.py`; English,
Dutch and Portuguese have a lexicon (`lexicons.py`, all scored with VADER's rules); a text in any
other language gets no score (NaN), never an English one, and the result's definition says what
share of answers that is and which languages. Texts too short to tell are read as the most common
language of the answers. Measured on 105 hand-written reviews per language (tests/data): Spearman
rho with the stars 0.84 (pt), 0.84 (nl); the airline tweets are all English (or too short): unchanged.

Scoring runs in Python: only (feedback_id, text, group columns) rows leave the engine; each
distinct text is scored once and cached per process (dashboards re-ask the same texts).
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ...errors import SentimentError, WorkbenchError, one_of  # noqa: F401  (re-exported)
from ...privacy import suppress_small
from ...scope import definition, scope
from .scores import BY as SCORE_BY
from .scores import FEEDBACK_FILTERS, NONE, group_columns, mean_interval, nps_interval, with_groups
from ..stats import wilson_interval
from ...cache import remember
from . import language as lang
from .lexicons import (LANGUAGES, LEXICON_FILE, SOURCES, base_lexicon, cx_terms, function_words,  # noqa: F401
                       normalise, read_lexicon)

NEUTRAL_BAND = 0.05
LABELS = ("negative", "neutral", "positive")
BY = (*SCORE_BY, "theme", "language")
MODEL = SOURCES["en"]
LABEL_RULE = "positive: compound >= +band, negative: compound <= -band, else neutral (band 0.05 = VADER's)"
RESPONSE_COLUMNS = ("feedback_id", "customer_id", "instrument", "touchpoint", "channel", "feedback_ts", "score")
_CACHE_LIMIT = 500_000
FAILURE_VALENCE = -1.0  # a term this negative (or more) in the cx lexicon reports a service failure
COURTESY = ("thanks", "thank", "thx", "ty", "please", "appreciate", "appreciated", "hope", "hoping", "hopefully")
_COURTESY = re.compile(r"(?<![\w'])(?:" + "|".join(COURTESY) + r")(?![\w'])", re.I)
_DIGITS = re.compile(r"(\d)([a-z]{2,})", re.I)
_NAMES = re.compile(r"(?<![\w@])@\w+|https?://\S+|\bwww\.\S+")


class _Scorer:
    """A VADER analyzer with extra terms; phrases are joined into one token (`on hold` -> `on_hold`).
    For a language other than English the analyzer's lexicon is that language's (`base`) and the
    text's negations and degree words are rewritten to VADER's (`lexicons.FUNCTION_WORDS`)."""

    def __init__(self, terms: dict[str, float], *, clean: bool = True, language: str = "en", base=None):
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        except ImportError:
            raise SentimentError("Sentiment needs the vaderSentiment package: pip install vaderSentiment==3.3.2"
                                 ) from None
        self.analyzer = SentimentIntensityAnalyzer()
        if base is not None:
            self.analyzer.lexicon = dict(base)  # our instance's own dict: the library keeps VADER's
        self.language, self.grammar = language, function_words(language)
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
        text = normalise(text, self.language)
        if self.clean:  # @handles and links are names, not words ("@united" would read as "united" +1.8)
            text = _DIGITS.sub(r"\1 \2", _NAMES.sub(" ", text))  # "7hours" -> "7 hours"
        text = self.phrases.sub(lambda m: "_".join(m.group(0).split()), text) if self.phrases else text
        if self.clean and self.language == "en" and self.failure and self.failure.search(text):
            text = _COURTESY.sub(" ", text)  # "thanks for the 3 hour delay"
        return self.grammar(text) if self.grammar else text

    def score(self, text) -> float:
        if not isinstance(text, str) or not text.strip():
            return float("nan")
        if text not in self.cache:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[text] = self.analyzer.polarity_scores(self.prepare(text))["compound"]
        return self.cache[text]


_SCORERS = SimpleNamespace()   # scorers built once per process (`cjworkbench.cache`, kind "object")


def _scorer(key: tuple, language: str = "en") -> _Scorer:
    def build() -> _Scorer:
        name, extra = key
        terms = cx_terms(language) if name == "cx" else {}
        return _Scorer({**terms, **dict(extra)}, clean=name == "cx", language=language, base=base_lexicon(language))

    return remember(_SCORERS, "object", (language, *key), build)


def _key(lexicon) -> tuple:
    if isinstance(lexicon, dict):
        return "cx", tuple(sorted((str(k).lower(), float(v)) for k, v in lexicon.items()))
    if lexicon not in ("cx", "vader"):
        raise SentimentError(one_of("lexicon", lexicon, ("cx", "vader")) + " (or a mapping {term: valence}).")
    return lexicon, ()


def score_texts(texts, *, lexicon="cx", language: str = "en") -> np.ndarray:
    """VADER compound score (-1 .. +1) per text, read as `language` (en, nl, pt); NaN for a missing or
    blank text. lexicon="vader": the language's packaged lexicon without the customer-experience layer."""
    if language not in LANGUAGES:
        raise SentimentError(one_of("language", language, LANGUAGES) + " (languages with a sentiment lexicon).")
    scorer = _scorer(_key(lexicon), language)
    return np.array([scorer.score(t) for t in texts], dtype=float)


def score_languages(texts, codes, *, lexicon="cx", fallback: str | None = "en") -> np.ndarray:
    """Compound per text in its own language (`codes`, as `language.detect_languages` gives them);
    "unknown" (too short to tell) is read as `fallback`; a language without a lexicon gets NaN."""
    texts = pd.Series(list(texts), dtype=object)
    codes = pd.Series(list(codes), dtype=object).replace(lang.UNKNOWN, fallback)
    out = np.full(len(texts), np.nan)
    for code in LANGUAGES:
        sel = (codes == code).to_numpy()
        if sel.any():
            out[sel] = score_texts(texts[sel], lexicon=lexicon, language=code)
    return out


def score_detected(texts, *, languages=None, lexicon="cx") -> np.ndarray:
    """Compound per text in its detected language (NaN where no lexicon): `score_languages` after
    `language.detect_languages`, for callers that score texts outside `scored_responses`."""
    texts = list(texts)
    codes = lang.detect_languages(texts, languages=lang.candidate_languages(None, languages))
    return score_languages(texts, codes, lexicon=lexicon, fallback=lang.main_language(codes, among=LANGUAGES) or "en")


def sentiment_labels(compound, *, neutral_band: float = NEUTRAL_BAND) -> np.ndarray:
    """negative / neutral / positive per compound score (None where the score is NaN)."""
    c = np.asarray(compound, dtype=float)
    out = np.where(c >= neutral_band, "positive", np.where(c <= -neutral_band, "negative", "neutral")).astype(object)
    out[np.isnan(c)] = None
    return out


def scored_responses(con, *, cols=(), filters=None, instrument=None, text_column: str = "text", lexicon="cx",
                     neutral_band: float = NEUTRAL_BAND, personas=None, period=None, languages=None,
                     language: str | None = None) -> pd.DataFrame:
    """One row per feedback row with a text: RESPONSE_COLUMNS, group columns, language, compound, label.
    `language` (a code) reads every text as that language; else each text's language is detected."""
    fb = scope(con, filters).feedback(instrument)
    strings = [c for c, t in fb.schema().items() if t.is_string()]
    if text_column not in strings:
        raise SentimentError(one_of("text_column", text_column, strings))
    fb = fb.filter(fb[text_column].notnull() & (fb[text_column].strip() != ""))
    fb = with_groups(con, fb, [c for c in cols if c not in ("theme", "language")], personas=personas, period=period)
    keep = dict.fromkeys([*RESPONSE_COLUMNS, *(c for c in cols if c not in ("theme", "language"))])
    df = fb.select(*keep, _text=fb[text_column]).execute()
    text = df.pop("_text")
    if language is not None:
        if language not in LANGUAGES:
            raise SentimentError(one_of("language", language, LANGUAGES) + " (languages with a sentiment lexicon).")
        df["language"] = language
    else:
        df["language"] = lang.detect_languages(text, languages=lang.candidate_languages(con, languages))
    main = lang.main_language(df["language"], among=LANGUAGES) or "en"
    df["compound"] = score_languages(text, df["language"], lexicon=lexicon, fallback=main)
    df["label"] = sentiment_labels(df["compound"], neutral_band=neutral_band)
    df.attrs["languages"] = language_note(df["language"], main)
    return df


def language_note(codes, main: str) -> dict:
    """What was read in which language, and the share of answers left unscored (no lexicon)."""
    codes = pd.Series(list(codes), dtype=object)
    unsupported = sorted(set(codes) - {*LANGUAGES, lang.UNKNOWN})
    share = float(codes.isin(unsupported).mean()) if len(codes) else 0.0
    note = (f"{100 * share:.0f} % of answers are in languages without a sentiment lexicon: {', '.join(unsupported)} "
            "(no score, not read as English)" if unsupported else "every answer is in a language with a lexicon")
    return {"shares": lang.language_shares(codes), "scored_languages": list(LANGUAGES), "unsupported": unsupported,
            "unsupported_share": round(share, 4), "note": note,
            "unknown_rule": f"texts too short to tell ({lang.UNKNOWN}) are read as the most common language, {main}",
            "detector": lang.DETECTOR, "models": {k: SOURCES[k] for k in LANGUAGES}}


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
    """Statistics of the scored answers; answers in a language without a lexicon count in n_unscored."""
    scored = g["compound"].notna()
    n_unscored = int((~scored).sum())
    g = g[scored]
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
            "net_sentiment": net.estimate, "net_low": net.low, "net_high": net.high, "n_unscored": n_unscored}


def sentiment_table(con, *, by=None, filters=None, instrument=None, text_column: str = "text", lexicon="cx",
                    neutral_band: float = NEUTRAL_BAND, period: str | None = None, personas=None, taxonomy=None,
                    level: float = 0.95, min_n: int = 30, languages=None, language: str | None = None
                    ) -> pd.DataFrame:
    """Sentiment of the feedback texts, each read in its own language (`language.py`: detected among
    `languages`, else the config's, else the default set; `language=` forces one). English, Dutch and
    Portuguese have a lexicon (`lexicons.py`); an answer in another language gets no score (NaN, label
    None), and the definition's `languages.note` says how many ("12 % of answers are in languages
    without a sentiment lexicon: de, fr"). `by=None`: one row per response (RESPONSE_COLUMNS, language,
    compound, label; no text, so no verbatim leaks into a dashboard table). `by` (touchpoint, channel,
    source, instrument, segment, persona, period, theme, language): per group n_answers (scored), mean
    compound (t interval), negative / positive rates (Wilson), net_sentiment = 100 × (positive −
    negative) / n (multinomial Wald interval, as NPS), n_unscored, and `small` for n_answers < min_n."""
    asked = [] if by is None else [by] if isinstance(by, str) else list(by)
    for c in asked:
        if c not in BY:
            raise SentimentError(one_of("by", c, BY))
    cols, period = group_columns([c for c in asked if c not in ("theme", "language")], period)
    cols += [c for c in ("language", "theme") if c in asked]
    df = scored_responses(con, cols=cols, filters=filters, instrument=instrument, text_column=text_column,
                          lexicon=lexicon, neutral_band=neutral_band, personas=personas, period=period,
                          languages=languages, language=language)
    note = df.attrs.get("languages", {})
    if "theme" in cols:
        df = _themes(con, df, taxonomy, filters)
    about = dict(model=MODEL if lexicon != "vader" else "vaderSentiment 3.3.2", lexicon=_key(lexicon)[0],
                 languages=note,
                 labels=LABEL_RULE.replace("0.05", f"{neutral_band:g}", 1) if neutral_band != NEUTRAL_BAND
                 else LABEL_RULE, instrument=instrument, text_column=text_column,
                 filters=scope(con, filters).describe(), filter_rules=FEEDBACK_FILTERS)
    if not cols:
        return definition(df.reset_index(drop=True), analysis="sentiment per response", **about)
    rows = [{**dict(zip(cols, key if isinstance(key, tuple) else (key,))), **_summary(g, level)}
            for key, g in df.groupby(cols, sort=True, dropna=False)]
    out = pd.DataFrame(rows, columns=None if rows else [*cols, "n_answers", "mean_compound", "net_sentiment"])
    out["small"] = out["n_answers"] < min_n
    out = suppress_small(out, count="n_answers", blank=False)   # privacy.SMALL_GROUP_RULE: flagged (issue #14)
    return definition(out, analysis="sentiment", by=cols, period=period, level=level, min_n=min_n,
                      net_sentiment="100 × (positive − negative) / n, Wald interval with the multinomial variance",
                      **about)
