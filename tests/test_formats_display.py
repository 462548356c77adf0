"""Numbers for people (`cjworkbench.formats`) and the tables dashboards and reports show
(`cjworkbench.display.table_html`). Every expected string is worked out by hand from the rule in
the formatter's docstring. (Input file formats are tests/test_formats.py.)"""

from __future__ import annotations

import html
import math
import re

import pandas as pd
import pytest

from cjworkbench import formats as f
from cjworkbench.display import table_html
from cjworkbench.formats import column_kind, column_title, value_text

MISSING_VALUES = [None, float("nan"), pd.NA, pd.NaT, math.nan]


@pytest.mark.parametrize("seconds, text", [
    (0, "0 s"), (1, "1 s"), (59, "59 s"), (59.4, "59 s"),
    (59.7, "1 min"),                  # rounds up to a minute: shown in minutes
    (60, "1 min"), (150, "3 min"),    # 2.5 min rounds half up
    (720, "12 min"), (3_569, "59 min"),
    (3_599, "1 hour"),                # 59.98 min rounds to 60: an hour
    (3_600, "1 hour"), (16_200, "4.5 hours"), (86_219, "23.9 hours"),
    (86_220, "1 day"),                # 23.95 h rounds to 24.0: a day
    (86_400, "1 day"), (115_266, "1.3 days"), (276_480, "3.2 days"), (172_800, "2 days"),
    (86_400 * 1234.5, "1,234.5 days"),
    (-59, "-59 s"), (-720, "-12 min"), (-276_480, "-3.2 days"),
])
def test_duration(seconds, text):
    assert f.duration(seconds) == text


@pytest.mark.parametrize("missing", MISSING_VALUES)
def test_every_formatter_says_missing_with_a_dash(missing):
    for formatter in (f.duration, f.share, f.points, f.count, f.number, f.p_value, f.yes_no, f.money):
        assert formatter(missing) == "–", formatter.__name__


@pytest.mark.parametrize("value, text", [(0, "0.0 %"), (0.173, "17.3 %"), (0.17351, "17.4 %"), (1, "100.0 %"),
                                         (-0.05, "-5.0 %"), (0.00049, "0.0 %")])
def test_share(value, text):
    assert f.share(value) == text


def test_share_digits():
    assert f.share(0.1234, digits=0) == "12 %"


@pytest.mark.parametrize("diff, text", [(0.021, "+2.1 pts"), (-0.021, "-2.1 pts"), (0, "0.0 pts"),
                                        (-0.0001, "0.0 pts"), (0.14, "+14.0 pts")])
def test_points(diff, text):
    assert f.points(diff) == text


@pytest.mark.parametrize("value, text", [(0, "0"), (7, "7"), (115_266, "115,266"), (1_071_778, "1,071,778"),
                                         (-1_500, "-1,500"), (2.6, "3")])
def test_count(value, text):
    assert f.count(value) == text


@pytest.mark.parametrize("value, text", [(0, "0"), (1234, "1,234"), (123.4, "123"), (0.4211, "0.42"),
                                         (-0.4211, "-0.42"), (0.0012345, "0.0012"), (float("inf"), "∞")])
def test_number(value, text):
    assert f.number(value) == text


@pytest.mark.parametrize("p, text", [(6.4e-20, "< 0.001"), (0, "< 0.001"), (0.000999, "< 0.001"),
                                     (0.001, "0.001"), (0.0042, "0.004"), (0.0312, "0.03"), (0.03, "0.03"),
                                     (0.456, "0.46"), (1, "1.00")])
def test_p_value(p, text):
    assert f.p_value(p) == text


@pytest.mark.parametrize("value, text", [(True, "yes"), (False, "no"), (1, "yes"), (0, "no")])
def test_yes_no(value, text):
    assert f.yes_no(value) == text


@pytest.mark.parametrize("value, unit, text", [(1234.5, "EUR", "€1,234.50"), (-12, "usd", "-$12.00"),
                                               (0, "GBP", "£0.00"), (1234.5, "CHF", "1,234.50 CHF"),
                                               (1234.5, None, "1,234.50")])
def test_money(value, unit, text):
    assert f.money(value, unit) == text


@pytest.mark.parametrize("max_seconds, unit", [(0, ("s", 1)), (59, ("s", 1)), (60, ("min", 60)),
                                               (3_600, ("hours", 3_600)), (86_400, ("days", 86_400)),
                                               (None, ("s", 1))])
def test_duration_unit(max_seconds, unit):
    assert f.duration_unit(max_seconds) == unit


def test_duration_label_expr_divides_by_the_unit():
    assert f.duration_label_expr(200_000) == "format(datum.value / 86400, ',.1~f') + ' days'"
    assert f.duration_label_expr(7_200, field="datum.x") == "format(datum.x / 3600, ',.1~f') + ' hours'"


# -- tables ------------------------------------------------------------------------------------------

def _cells(markup: str) -> list[list[str]]:
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", markup, flags=re.S)
    return [[html.unescape(re.sub(r"<[^>]+>", "", c).strip()) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", r, flags=re.S)]
            for r in rows]


def test_table_headers_are_words_and_values_are_formatted():
    df = pd.DataFrame({"touchpoint": ["web", "phone"], "n_customers": [12_345, 980],
                       "conversion_rate": [0.1734, float("nan")], "throughput_seconds": [115_266.0, 720.0],
                       "p_value": [6.4e-20, 0.0312], "available": [True, False], "nps": [31.25, -4.0],
                       "n_steps": pd.array([3, None], dtype="Int64")})
    header, web, phone = _cells(table_html(df))
    assert header == ["Touchpoint", "Customers", "Conversion", "Throughput time", "p-value", "Available", "NPS",
                      "Steps"]
    assert web == ["Web", "12,345", "17.3 %", "1.3 days", "< 0.001", "yes", "31.25", "3"]
    assert phone == ["Phone", "980", "–", "12 min", "0.03", "no", "-4", "–"]


@pytest.mark.parametrize("raw, words", [
    ("search", "Search"), ("signup", "Signup"), ("contact centre", "Contact centre"), ("e-mail", "E-mail"),
    ("order_shipped", "Order shipped"), ("nps", "NPS"), ("sms", "SMS"), ("n_steps", "Steps"),
    ("iPhone", "iPhone"), ("Resolve ticket", "Resolve ticket"), ("B2", "B2"), ("sku123", "sku123"),
    ("www.shop.nl", "www.shop.nl"), ("xq", "xq"), ("search (repeated)", "Search (repeated)"),
    ("search → signup", "Search → Signup")])
def test_display_names_capitalise_plain_words_and_keep_codes(raw, words):
    """A plain lower-case word reads with a capital, as a snake_case name does; a name with capitals, digits
    or other signs, or without a vowel, is a name or a code someone typed: kept as written."""
    from cjworkbench.formats import display_name

    assert display_name(raw, {}) == words


def test_numbers_are_right_aligned_with_their_headers_and_text_is_not():
    markup = table_html(pd.DataFrame({"touchpoint": ["web"], "n_journeys": [5], "share": [0.5]}))
    heads = re.findall(r"<th(?: [^>]*)?>", markup)
    cells = re.findall(r"<td[^>]*>", markup)
    assert "right" not in heads[0] and "right" not in cells[0]
    assert all("text-align: right" in h for h in heads[1:]) and all("text-align: right" in c for c in cells[1:])


def test_table_keeps_the_dataframe_unchanged():
    df = pd.DataFrame({"n_journeys": [1_000], "share": [0.25]})
    before = df.copy()
    table_html(df)
    pd.testing.assert_frame_equal(df, before)


@pytest.mark.parametrize("column, title", [("n_journeys", "Journeys"), ("n_customers", "Customers"),
                                           ("fcr_rate", "First-contact resolution"), ("csat_mean", "CSAT (mean)"),
                                           ("median_seconds", "Median time"), ("some_new_column", "Some new column"),
                                           ("n_open_window", "Open window")])
def test_column_titles(column, title):
    assert column_title(column) == title


def test_html_in_values_is_escaped():
    markup = table_html(pd.DataFrame({"activity": ["<script>x</script>"], "n_journeys": [1]}))
    assert "<script>" not in markup and "&lt;script&gt;" in markup


@pytest.mark.parametrize("column, kind", [("n_journeys", "count"), ("conversion_rate", "share"),
                                          ("rate_with_low", "share"), ("share_of_persona", "share"),
                                          ("top_share", "share"), ("rate_diff", "points"),
                                          ("rate_diff_high", "points"), ("throughput_seconds", "duration"),
                                          ("median_diff_low_seconds", "duration"), ("median_days", "days"),
                                          ("p_value", "p_value"), ("ph_p_value", "p_value"), ("q_value", "p_value"),
                                          ("amount", "money"), ("cost_per_contact", "money"), ("nps", "number")])
def test_column_kinds(column, kind):
    assert column_kind(column) == kind


def test_value_text_reads_days_and_money():
    assert value_text(3.2, "days") == "3.2 days" and value_text(None, "days") == "–"
    assert value_text(1234.5, "money", unit="EUR") == "€1,234.50"



def test_a_changes_table_reads_in_words_and_as_cards_on_a_phone():
    """What changed's table: area and metric values in words, q-value named as corrected; every cell carries its
    column's title, which a phone shows beside the value (one card a row, `TABLE_CSS`)."""
    from cjworkbench.display import TABLE_CSS

    df = pd.DataFrame({"area": ["funnel", "driver"], "metric": ["conversion", "effect on ces"],
                       "q_value": [0.0004, 0.5]})
    markup = table_html(df)
    header, first, second = _cells(markup)
    assert header == ["Area", "Metric", "q-value (corrected p)"]
    assert first == ["Funnel step", "Conversion", "< 0.001"] and second == ["Survey driver", "Effect on CES", "0.50"]
    assert re.findall(r'data-label="([^"]+)"', markup) == header * 2
    assert markup.startswith(TABLE_CSS) and "@media (max-width: 719px)" in TABLE_CSS
    assert "content: attr(data-label)" in TABLE_CSS and "thead { display: none; }" in TABLE_CSS


def test_a_table_of_figures_reads_each_row_in_its_own_unit():
    """One row a metric (what changed): conversion in % and points, a median time as a duration, NPS as a number."""
    df = pd.DataFrame({"metric": ["conversion", "median_seconds", "nps"], "previous": [0.8912, 33.0, 20.0],
                       "current": [0.75, 29.0, 26.4], "change": [-0.1412, -4.0, 6.4], "low": [-0.18, -7.6, 1.0]})
    _, conversion, seconds, nps = _cells(table_html(df))
    assert conversion == ["Conversion", "89.1 %", "75.0 %", "-14.1 pts", "-18.0 pts"]
    assert seconds == ["Median time", "33 s", "29 s", "-4 s", "-8 s"]
    assert nps == ["NPS", "20", "26.40", "6.40", "1"]
