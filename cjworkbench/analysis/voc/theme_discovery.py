"""Data-driven theme discovery: TF-IDF + non-negative matrix factorisation (scikit-learn).

Why NMF on TF-IDF rather than LDA or embeddings + k-means: verbatims are short (one to three
sentences), where LDA's word-count model is unstable; NMF's factors are non-negative, so each
discovered theme is an additive bag of terms whose top terms read as a label, and a comment can
be a sum of several themes. With `init="nndsvda"` it is deterministic given the seed, needs no
model download and fits tens of thousands of sentences in seconds.

Comments are split into sentences and the model is fitted on the *distinct* sentences (a seeded
sample of at most `max_sentences`): boilerplate repeated thousands of times ("Good service.",
"Ok.") would otherwise take a theme each and crowd out complaints phrased in many ways. Each
sentence then belongs to its dominant theme, and a comment mentions every theme one of its
sentences belongs to, so shares are counted over all comments, as in `themes_table`. Sentences
of stop words or rare words only belong to none. Redaction tokens ([email], ...) are dropped.
Only (feedback_id, text) of the comments are pulled from the engine.

Languages: one model per language, never one over a mix (a mixed model's top theme is the
stop words of the minority language: "que · um · veio"). Each comment's language is detected
(`language.py`); discovery runs on one language, `language=` or else the most common one, with that
language's stop words (the `stop-words` package, BSD-3; for English scikit-learn's list as before)
and normalisation (Portuguese accents folded: "não" = "nao"). Comments too short to tell their
language go with the chosen language; the definition says how many comments of other languages
were left out, and which.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ...scope import FEEDBACK_RULE, definition, scope
from ..stats import wilson_interval
from . import language as lang
from .lexicons import fold
from .themes import ThemeError, comments, feedback_rows

_TOKENS = re.compile(r"\[(?:email|phone|user|url|number|name)\]")
_SENTENCE = re.compile(r"[.!?;\n]+")
_WORD = re.compile(r"\b[^\W\d_]{2,}\b")
STOP_WORDS_EXTRA = frozenset({"ok", "okay", "just", "really", "got", "get", "did", "does", "don", "im", "amp",
                              "http", "https", "co", "www", "com"})


FOLD_ACCENTS = ("pt", "es", "fr")  # languages whose writers often drop accents: "não" and "nao" are one word


def sentences(text: str, language: str = "en") -> list[str]:
    """Lower-cased sentences of a comment, redaction tokens removed (accents folded where usual)."""
    text = _TOKENS.sub(" ", text.lower())
    text = fold(text) if language in FOLD_ACCENTS else text
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def stop_words_for(language: str) -> frozenset:
    """The language's stop words: scikit-learn's English list, else the `stop-words` package's."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    if language == "en":
        return frozenset(ENGLISH_STOP_WORDS | STOP_WORDS_EXTRA)
    try:
        from stop_words import LANGUAGE_MAPPING, get_stop_words
    except ImportError:
        raise ThemeError("Theme discovery in languages other than English needs the stop-words package: "
                         "pip install stop-words") from None
    if language not in LANGUAGE_MAPPING:
        raise ThemeError(f"No stop-word list for language '{language}'; the stop-words package has: "
                         f"{', '.join(sorted(LANGUAGE_MAPPING))}. Pass language= one of them.")
    words = {w.lower() for w in get_stop_words(language)}
    words |= {fold(w) for w in words} if language in FOLD_ACCENTS else set()
    return frozenset(words | STOP_WORDS_EXTRA)


def _analyzer(stop: frozenset, ngram_range: tuple[int, int]):
    """Terms of one sentence: words of 2+ letters minus stop words, and their n-grams."""
    def terms(sentence: str) -> list[str]:
        words = [w for w in _WORD.findall(sentence) if w not in stop]
        return [" ".join(words[i:i + n]) for n in range(ngram_range[0], ngram_range[1] + 1)
                for i in range(len(words) - n + 1)]
    return terms


def discover_themes_table(con, *, n_themes: int = 8, filters=None, instrument=None, seed: int = 0,
                          n_terms: int = 8, n_examples: int = 3, max_sentences: int = 50_000, min_df: int = 2,
                          min_weight: float = 0.1, stop_words=(), ngram_range: tuple[int, int] = (1, 2),
                          level: float = 0.95, language: str | None = None, languages=None) -> pd.DataFrame:
    """Themes found in the comments themselves, most mentioned first.

    One row per discovered theme: `theme` (its three top terms, a readable label), `top_terms`
    (the `n_terms` heaviest terms), `n_answers`: comments with a sentence belonging to it,
    `theme_rate` of all comments with `low`/`high` (Wilson), and `examples` (comments, redacted,
    whose sentence loads most on it). A sentence belongs to its dominant theme when its weight
    there (theme term vectors scaled to unit length, so the weight reads like a cosine
    similarity) is at least `min_weight`; this keeps a catch-all theme from absorbing every
    long, mixed comment. `stop_words` adds words to ignore (e.g. the product's own name).
    `language` (ISO 639-1): the comments in that language (and those too short to tell); default the
    most common detected language among `languages` (see `language.candidate_languages`); shares are
    of the comments in that language. Deterministic for a given `seed`.
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    from ...redact import redact_series

    if not isinstance(n_themes, int) or n_themes < 2:
        raise ThemeError(f"n_themes must be a whole number of at least 2, got {n_themes!r}.")
    docs = comments(feedback_rows(con, filters, instrument=instrument)).select("feedback_id", "seq", "text")
    docs = docs.to_pandas().sort_values(["seq", "feedback_id"], kind="stable").reset_index(drop=True)
    docs["text"] = redact_series(docs["text"].astype(str).astype(object))  # no e-mail split into "sentences"
    n_all = len(docs)
    docs["language"] = lang.detect_languages(docs["text"], languages=lang.candidate_languages(con, languages))
    shares = lang.language_shares(docs["language"])
    chosen = language or lang.main_language(docs["language"]) or "en"
    stop = stop_words_for(chosen) | {str(w).lower() for w in stop_words}
    left_out = docs.loc[~docs["language"].isin([chosen, lang.UNKNOWN]), "language"].value_counts()
    docs = docs[docs["language"].isin([chosen, lang.UNKNOWN])].reset_index(drop=True)
    sent = pd.DataFrame([(i, s) for i, t in enumerate(docs["text"]) for s in sentences(t, chosen)],
                        columns=["doc", "sentence"])
    uniq = pd.Series(sent["sentence"].unique())
    fit = uniq if len(uniq) <= max_sentences else uniq.iloc[np.sort(
        np.random.default_rng(seed).choice(len(uniq), max_sentences, replace=False))]
    vec = TfidfVectorizer(analyzer=_analyzer(stop, ngram_range),
                          min_df=min_df, sublinear_tf=True)
    try:
        x_fit = vec.fit_transform(fit)
    except ValueError:
        x_fit = None
    if x_fit is None or min(x_fit.shape) < n_themes:
        raise ThemeError(f"Too few comments or distinct words to find {n_themes} themes ({len(docs)} comments in "
                         f"language '{chosen}' of {n_all}; languages: {shares}, "
                         f"{len(uniq)} distinct sentences). Widen the filters, lower n_themes or min_df "
                         f"(now {min_df}).")
    nmf = NMF(n_components=n_themes, init="nndsvda", random_state=seed, max_iter=500).fit(x_fit)
    x_all = vec.transform(uniq)
    w = nmf.transform(x_all) * np.linalg.norm(nmf.components_, axis=1)
    best = w.max(axis=1)
    dominant = pd.Series(np.where(best >= min_weight, w.argmax(axis=1), -1), index=uniq)
    # examples: sentences of three or more terms first, then by weight
    loading = pd.Series(best + (x_all.getnnz(axis=1) >= 3), index=uniq)
    sent["theme"], sent["loading"] = sent["sentence"].map(dominant), sent["sentence"].map(loading)
    terms, rows = vec.get_feature_names_out(), []
    for k in range(n_themes):
        comp = nmf.components_[k]
        top = [str(terms[i]) for i in np.argsort(-comp, kind="stable")[:n_terms] if comp[i] > 0.01 * comp.max()]
        hits = sent[sent["theme"] == k].sort_values(["loading", "doc"], ascending=[False, True], kind="stable")
        members = hits["doc"].unique()
        examples = list(dict.fromkeys(docs["text"].iloc[members[:50]]))[:n_examples]
        ci = wilson_interval(members.size, len(docs), level=level)
        rows.append({"theme": " · ".join(top[:3]), "top_terms": top, "n_answers": int(members.size),
                     "theme_rate": ci.estimate, "low": ci.low, "high": ci.high,
                     "examples": examples})
    df = pd.DataFrame(rows).sort_values("n_answers", ascending=False, kind="stable").reset_index(drop=True)
    df.insert(0, "theme_id", np.arange(1, n_themes + 1))
    return definition(df, unit="comment (feedback response with a non-empty text)",
                      method=f"TF-IDF on distinct sentences ({ngram_range[0]}-{ngram_range[1]}-grams, min_df={min_df}, "
                             f"{lang.NAMES.get(chosen, chosen)} stop words) + NMF (k={n_themes}, nndsvda, seed={seed}); a sentence belongs to "
                             f"its dominant theme (weight >= {min_weight}), a comment to the themes of its sentences",
                      language=chosen, n_comments=n_all, n_comments_in_language=len(docs),
                      languages=shares, left_out={str(k): int(v) for k, v in left_out.items()},
                      language_rule=f"comments detected as '{chosen}' or too short to tell ({lang.UNKNOWN}); "
                                    f"{int(left_out.sum())} comments in other languages left out (run again with "
                                    f"language= one of them)", n_sentences=len(sent), n_distinct_sentences=len(uniq), n_fitted=len(fit),
                      n_unassigned_comments=int(len(docs) - sent.loc[sent["theme"] >= 0, "doc"].nunique()),
                      reconstruction_error=float(nmf.reconstruction_err_), instrument=instrument, level=level,
                      filters=scope(con, filters).describe() or None,
                      filter_rules=FEEDBACK_RULE)
