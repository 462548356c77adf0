"""Fake but plausible personal data for the CRM: names, places, phone and e-mail formats.

Every character is in latin-1, because the CRM export is latin-1 encoded. E-mail domains are
the reserved example domains (RFC 2606), so no generated address can reach a real person.
"""

from __future__ import annotations

import unicodedata

FIRST_NAMES = (
    "Daan", "Sem", "Lucas", "Noah", "Liam", "Finn", "Bram", "Thijs", "Jesse", "Ruben",
    "Emma", "Julia", "Mila", "Tess", "Sophie", "Zoë", "Anaïs", "Chloé", "Renée", "Loïs",
    "Sanne", "Femke", "Eva", "Anouk", "Lotte", "Fleur", "Noor", "Iris", "Lieke", "Maud",
    "Björn", "Søren", "José", "María", "Inés", "Mohamed", "Fatima", "Aïcha", "Ömer", "Elif",
    "Joëlle", "Noël", "Hélène", "François", "Jan", "Piet", "Kees", "Henk", "Gerrit", "Willem",
    "Wilhelmina", "Cornelia", "Johanna", "Hendrik", "Geertruida", "Marijke", "Ingrid", "Ans",
    "Stéphanie", "Jürgen", "Dörte", "Åsa", "Siobhán", "Seán", "Mateo", "Yara", "Priya", "Wei",
)
LAST_NAMES = (
    "de Vries", "Jansen", "van den Berg", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
    "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker",
    "Brouwer", "de Wit", "Dijkstra", "Smits", "de Graaf", "van der Meer", "van der Linden",
    "Kok", "Jacobs", "de Haan", "Vermeulen", "van den Heuvel", "van der Veen", "van den Broek",
    "de Bruijn", "van der Heijden", "Schouten", "van Beek", "Willems", "van Vliet", "Hoekstra",
    "Maas", "Verhoeven", "Koster", "van Dam", "Prins", "Blom", "Huisman", "Peeters",
    "Lefèvre", "Dubois", "Schröder", "Müller", "Groß", "Sørensen", "Åkesson", "Gómez",
    "Fernández", "Núñez", "Gonçalves", "Çelik", "Özdemir", "Yilmaz", "O'Brien", "Nguyen",
    "El Amrani", "Ben Ali", "Kowalski", "Rossi", "Da Silva", "Ødegaard", "Pérez",
)
# city, region (province), relative size
CITIES = (
    ("Amsterdam", "Noord-Holland", 9), ("Rotterdam", "Zuid-Holland", 7),
    ("Den Haag", "Zuid-Holland", 6), ("Utrecht", "Utrecht", 4), ("Eindhoven", "Noord-Brabant", 3),
    ("Groningen", "Groningen", 2.5), ("Tilburg", "Noord-Brabant", 2.5), ("Almere", "Flevoland", 2.5),
    ("Breda", "Noord-Brabant", 2), ("Nijmegen", "Gelderland", 2), ("Apeldoorn", "Gelderland", 2),
    ("Arnhem", "Gelderland", 2), ("Haarlem", "Noord-Holland", 2), ("Enschede", "Overijssel", 2),
    ("'s-Hertogenbosch", "Noord-Brabant", 1.8), ("Zwolle", "Overijssel", 1.5),
    ("Leeuwarden", "Fryslân", 1.3), ("Maastricht", "Limburg", 1.5), ("Assen", "Drenthe", 0.8),
    ("Middelburg", "Zeeland", 0.6), ("Leiden", "Zuid-Holland", 1.5), ("Delft", "Zuid-Holland", 1.3),
)
INCOME_BANDS = ("< 20k", "20-40k", "40-70k", "70-100k", "> 100k")
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
# the same Dutch mobile number written the ways a call-centre CRM collects them; {a} is 8 digits
PHONE_FORMATS = ("+31 6 {a}", "06-{a}", "+316{a}", "0031 6 {a}", "06 {a}")

_FOLD = str.maketrans({"ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "'": "", " ": ""})


def ascii_fold(name: str) -> str:
    """'Søren' -> 'soren', 'van der Meer' -> 'vandermeer': the local part of an e-mail address."""
    plain = unicodedata.normalize("NFKD", name.translate(_FOLD))
    return "".join(c for c in plain if c.isascii()).lower()
