"""The language of each verbatim, so that sentiment and themes read a text with its own language's
lexicon and stop words, and say which texts they cannot read.

Detector: py3langid 0.4 (BSD-3; the naive Bayes model of langid.py, 97 languages, ships inside the
wheel as a 4.6 MB file: nothing is downloaded; pure numpy, about 40 µs per text). The candidate set
is restricted to the languages that are plausible for the data (`languages=`, else the config's
`languages:` setting, else DEFAULT_LANGUAGES): a short review has too few character n-grams to tell
Dutch from Afrikaans or Portuguese from Galician, and every extra candidate is a chance to be wrong.

A text is UNKNOWN when it is too short to tell (fewer than MIN_LETTERS letters: "Ok.", "Top!") or
when the detector's normalised probability of its best language is below MIN_CONFIDENCE ("Nice
products." is 46 % English). Each distinct text is classified once per process and language set.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ...cache import remember
from ...errors import SentimentError, one_of

DEFAULT_LANGUAGES = ("en", "nl", "pt", "de", "fr", "es")
UNKNOWN = "unknown"
MIN_LETTERS = 8
MIN_CONFIDENCE = 0.8
NAMES = {"en": "English", "nl": "Dutch", "pt": "Portuguese", "de": "German", "fr": "French", "es": "Spanish",
         "it": "Italian", "da": "Danish", "sv": "Swedish", "no": "Norwegian", "pl": "Polish", UNKNOWN: "unknown"}
DETECTOR = "py3langid 0.4.0 (langid.py model, BSD-3, in the wheel)"
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
_NOISE = re.compile(r"(?<![\w@])@\w+|https?://\S+|\bwww\.\S+|\[(?:email|phone|user|url|number|name|ip|id|address)\]")
_CACHE_LIMIT = 500_000
_DETECTORS = SimpleNamespace()  # one identifier per candidate set (`cjworkbench.cache`, kind "object")


class _Detector:
    def __init__(self, languages: tuple[str, ...]):
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self.identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.identifier.set_languages(list(languages))
        self.cache: dict[str, tuple[str, float]] = {}

    def detect(self, text) -> tuple[str, float]:
        if not isinstance(text, str):
            return UNKNOWN, float("nan")
        if text not in self.cache:
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            clean = _NOISE.sub(" ", text)  # handles, links and redaction tokens are not words of a language
            if len(_LETTER.findall(clean)) < MIN_LETTERS:
                self.cache[text] = (UNKNOWN, float("nan"))
            else:
                lang, p = self.identifier.classify(clean)
                self.cache[text] = (str(lang) if p >= MIN_CONFIDENCE else UNKNOWN, float(p))
        return self.cache[text]


def supported_codes() -> tuple[str, ...]:
    """Every language code the detector knows (ISO 639-1)."""
    return tuple(sorted(_detector(DEFAULT_LANGUAGES).identifier._full_model[2]))


def candidate_languages(con=None, languages=None) -> tuple[str, ...]:
    """The languages a text may be in: `languages` as given, else the config's `languages:` setting
    (read from the database's designs store) plus DEFAULT_LANGUAGES. Always includes English."""
    if languages is None:
        configured = _configured(con) if con is not None else None
        languages = [*DEFAULT_LANGUAGES, *(configured or [])]
    codes = [languages] if isinstance(languages, str) else list(languages)
    known = supported_codes()
    out = []
    for code in codes:
        code = str(code).strip().lower()
        if code not in known:
            raise SentimentError(one_of("language", code, known) + " (ISO 639-1 codes).")
        out.append(code)
    return tuple(dict.fromkeys(["en", *out] if "en" not in out else out))


def _configured(con):
    """The config's `languages:` (helper module `designs.store`), or None where it is not set."""
    try:
        from ...designs.store import languages as stored
    except ImportError:
        return None
    try:
        found = stored(con)
    except Exception:  # an older database without the designs store: the default set
        return None
    return list(found) if found else None


def _detector(languages: tuple[str, ...]) -> _Detector:
    return remember(_DETECTORS, "object", tuple(languages), lambda: _Detector(tuple(languages)))


def detect_languages(texts, *, languages=DEFAULT_LANGUAGES) -> np.ndarray:
    """ISO 639-1 code per text among `languages`, or "unknown" (too short, unsure, missing)."""
    det = _detector(tuple(candidate_languages(None, languages)))
    return np.array([det.detect(t)[0] for t in texts], dtype=object)


def detect_with_confidence(texts, *, languages=DEFAULT_LANGUAGES) -> pd.DataFrame:
    """`language` and the detector's `confidence` (normalised probability; NaN when too short)."""
    det = _detector(tuple(candidate_languages(None, languages)))
    rows = [det.detect(t) for t in texts]
    return pd.DataFrame(rows, columns=["language", "confidence"])


def main_language(codes, *, among=None) -> str | None:
    """The most common detected language (ties: alphabetical), optionally only `among` some codes."""
    s = pd.Series(list(codes), dtype=object)
    s = s[(s != UNKNOWN) & s.notna()]
    if among is not None:
        s = s[s.isin(list(among))]
    if s.empty:
        return None
    counts = s.value_counts()
    return str(sorted(counts[counts == counts.max()].index)[0])


def language_shares(codes) -> dict[str, float]:
    """Share of texts per language code, largest first."""
    s = pd.Series(list(codes), dtype=object).fillna(UNKNOWN)
    return {str(k): round(float(v), 4) for k, v in s.value_counts(normalize=True).items()}
