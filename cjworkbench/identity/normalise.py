"""Normalise identifying values in SQL, before they are pseudonymised: the same person's
"Jan.Smit@Gmail.com " and "jan.smit@gmail.com" (or "06-12345678" and "+31 6 1234 5678") must give
the same keyed hash. Then only hashes (`cjw_pseudonym`, keyed HMAC) and coarse values (birth year,
4-character postcode) leave this module; a phonetic code (Soundex) of each name part is hashed too,
so a misspelt name can still agree at a lower level without its letters being stored.
"""

from __future__ import annotations

PHONE_TAIL = 4   # phone_tail: the last 4 digits; phone_head: the others (one mistyped digit leaves one intact)
_SOUNDEX = {c: d for d, letters in {"1": "bfpv", "2": "cgjkqsxz", "3": "dt", "4": "l", "5": "mn", "6": "r"}.items()
            for c in letters}


def literal(text: str) -> str:
    """A SQL string literal (config values are the config author's text, quoted, never spliced)."""
    return "'" + str(text).replace("'", "''") + "'"


def soundex(word: str | None) -> str | None:
    """American Soundex of one word ('Robert' -> 'R163'); None for a word without letters."""
    if not word:
        return None
    letters = [c for c in word.lower() if "a" <= c <= "z"]
    if not letters:
        return None
    code, prev = letters[0].upper(), _SOUNDEX.get(letters[0], "")
    for c in letters[1:]:
        d = _SOUNDEX.get(c, "")
        if d and d != prev:
            code += d
        if c not in "hw":   # h and w do not separate equal codes; vowels do
            prev = d
    return (code + "000")[:4]


def name_code(name: str | None) -> str | None:
    """Soundex of the first and the last word of a normalised name ('sophie de vries' -> 'S100 V620')."""
    words = (name or "").split()
    if not words:
        return None
    return f"{soundex(words[0])} {soundex(words[-1])}" if len(words) > 1 else soundex(words[0])


def register(con) -> None:
    """Add `cjw_name_code` to a DuckDB connection (idempotent)."""
    try:
        con.create_function("cjw_name_code", name_code, ["VARCHAR"], "VARCHAR", null_handling="special",
                            side_effects=False)
    except Exception as exc:   # already registered on this connection
        if "already" not in str(exc).lower():
            raise


def text_sql(col: str) -> str:
    """NULL for an empty or blank value, else the value trimmed."""
    return f"nullif(trim({col}::VARCHAR), '')"


def email_sql(col: str, ignore_dots: tuple[str, ...] = ()) -> str:
    """Lower case, no spaces; for the configured providers only, dots and a +tag in the local part
    are dropped (Gmail ignores them; most providers do not)."""
    e = f"lower(regexp_replace({text_sql(col)}, '\\s', '', 'g'))"
    local, domain = f"split_part({e}, '@', 1)", f"split_part({e}, '@', 2)"
    if ignore_dots:
        providers = "[" + ", ".join(literal(d) for d in ignore_dots) + "]"
        local = (f"CASE WHEN list_contains({providers}, {domain}) THEN replace(split_part({local}, '+', 1), '.', '') "
                 f"ELSE {local} END")
    return f"CASE WHEN {e} SIMILAR TO '[^@]+@[^@]+\\.[^@]+' THEN {local} || '@' || {domain} END"


def phone_sql(col: str, country: str) -> str:
    """E.164 digits without '+': '+31 6 1234 5678', '0031 6-12345678' and '06 12345678' all give
    '31612345678' (a leading single 0 is national: the configured country code replaces it)."""
    d = f"regexp_replace({text_sql(col)}, '[^0-9+]', '', 'g')"
    e164 = (f"CASE WHEN {d} LIKE '+%' THEN substr({d}, 2) WHEN {d} LIKE '00%' THEN substr({d}, 3) "
            f"WHEN {d} LIKE '0%' THEN {literal(country)} || substr({d}, 2) ELSE {d} END")
    clean = f"regexp_replace({e164}, '[^0-9]', '', 'g')"
    return f"CASE WHEN length({clean}) >= 8 THEN {clean} END"


def key_sql(kind: str, col: str, country: str, ignore_dots: tuple[str, ...]) -> str:
    """The normalised text of an identifying key of `kind` (case and inner spaces do not count)."""
    if kind == "email":
        return email_sql(col, ignore_dots)
    if kind == "phone":
        return phone_sql(col, country)
    return f"lower(regexp_replace({text_sql(col)}, '\\s+', '', 'g'))"


def name_sql(cols: tuple[str, ...]) -> str:
    """A name from one or more columns (first, last): lower case, accents and punctuation gone,
    single spaces: 'Zoë  van der Meer' -> 'zoe van der meer'."""
    joined = "concat_ws(' ', " + ", ".join(text_sql(c) for c in cols) + ")"
    folded = f"strip_accents(lower(replace(replace(replace({joined}, 'ø', 'o'), 'Ø', 'o'), 'ß', 'ss')))"
    letters = f"trim(regexp_replace(regexp_replace({folded}, '[^a-z ]', '', 'g'), ' +', ' ', 'g'))"
    return f"nullif({letters}, '')"


def hashed(kind: str, value_sql: str) -> str:
    """The keyed hash of a normalised value, salted by its kind ('email:' ...) so kinds never collide."""
    return f"cjw_pseudonym({literal(kind + ':')} || ({value_sql}))"
