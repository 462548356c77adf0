"""One name per concept (house style, "One vocabulary"), checked statically: the chart of `X_table`
is `X_chart`, grouping is `by=`, one set of periods, no bare `n` column in what a chart requires,
and the names before 0.2 still work for one release with a DeprecationWarning."""

from __future__ import annotations

import ast
import inspect
import warnings
from pathlib import Path

import pandas as pd
import pytest

import cjworkbench
from cjworkbench import charts, periods
from cjworkbench.charts import ChartError
from cjworkbench.deprecation import deprecated_alias, renamed_kwargs
from cjworkbench.errors import FilterError

# charts whose table is not `<name>_table` (none today; add one here with the reason)
CHART_EXCEPTIONS: dict[str, str] = {}
NOT_BY = {"breakdown", "dimension", "group", "groupby", "group_by", "split_by"}   # grouping is `by=`
OLD_KWARGS = {"themes": "taxonomy", "n_boot": "n_resamples"}
OLD_CHARTS = {"process_map_chart": "transitions_chart", "paths_chart": "paths_around_chart",
              "dropoff_next_chart": "funnel_dropoff_next_chart", "score_trend_chart": "scores_chart"}
OLD_COLUMNS = {"n", "n_feedback", "n_responses", "score"}


def _public() -> dict[str, object]:
    out = {name: getattr(cjworkbench, name) for name in cjworkbench.__all__}
    out |= {f"charts.{name}": getattr(charts, name) for name in charts.__all__}
    return {k: v for k, v in out.items() if inspect.isfunction(v)}


def test_every_chart_has_its_table():
    tables = {n for n in cjworkbench.__all__ if n.endswith("_table")}
    for name in (n for n in charts.__all__ if n.endswith("_chart")):
        concept = name.removesuffix("_chart")
        assert f"{concept}_table" in tables or name in CHART_EXCEPTIONS, (
            f"charts.{name} has no cjworkbench.{concept}_table: rename it after its table or list it in "
            "CHART_EXCEPTIONS with the reason")


def test_grouping_is_by_and_one_name_per_option():
    for name, fn in _public().items():
        params = set(inspect.signature(fn).parameters)
        assert not params & NOT_BY, f"{name} groups with {params & NOT_BY}; call it by="
        assert not params & set(OLD_KWARGS), f"{name} takes {params & set(OLD_KWARGS)}; see OLD_KWARGS"


def test_one_set_of_periods():
    from cjworkbench.analysis.changes import changes
    from cjworkbench.analysis.journeys import retention
    from cjworkbench.analysis.voc import scores, themes

    assert set(periods.TRUNCATE) == set(periods.PERIODS)
    for module in (retention, scores, themes, changes):
        assert module.PERIODS is periods.PERIODS, module.__name__
    with pytest.raises(FilterError, match="Unknown period 'fortnight'.*Expected one of: day, week"):
        periods.check_period("fortnight")


def test_charts_require_no_bare_counts():
    """The columns each chart `require(...)`s use the result vocabulary (n_answers, estimate, ...)."""
    for path in Path(charts.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require" and len(node.args) > 1:
                names = {c.value for c in ast.walk(node.args[1]) if isinstance(c, ast.Constant)}
                assert not names & OLD_COLUMNS, f"{path.name}: require(...) lists {names & OLD_COLUMNS}"


@pytest.mark.parametrize("old,new", sorted(OLD_CHARTS.items()))
def test_old_chart_names_warn_and_forward(old, new):
    assert old not in charts.__all__ and new in charts.__all__
    with pytest.warns(DeprecationWarning, match=f"'{old}' is deprecated.*use '{new}'"), \
            pytest.raises(ChartError, match=new):
        getattr(charts, old)(pd.DataFrame({"x": [1]}))


def test_old_keywords_warn_and_forward():
    cases = [  # each fails its own validation before touching the database
        # any name may be an attribute (checked against the data); an empty one is refused before any query
        (lambda: cjworkbench.funnel_table(None, steps=["a", "b"], breakdown=""), "breakdown=", "Unknown by"),
        (lambda: cjworkbench.drivers_table(None, outcome="bogus", n_boot=5), "n_boot=", "Unknown outcome"),
        (lambda: cjworkbench.drivers_table(None, outcome="bogus", themes={}), "themes=", "Unknown outcome"),
        (lambda: cjworkbench.paths_around_table(None, anchor="a", loops="bad", steps=2), "steps=", "Unknown loop"),
    ]
    for call, old, error in cases:
        with pytest.warns(DeprecationWarning, match=old), pytest.raises(FilterError, match=error):
            call()
    renamed = {"switch_matrix_table": {"dimension": "by"}, "switch_gaps_table": {"dimension": "by"},
               "funnel_times_table": {"breakdown": "by"}, "funnel_dropoff_next_table": {"breakdown": "by"},
               "changes_table": {"themes": "taxonomy"}}
    for name, mapping in renamed.items():
        assert getattr(cjworkbench, name).renamed_kwargs == mapping, name
    for name in ("sentiment_chart", "scores_chart"):
        with pytest.warns(DeprecationWarning, match="'group=' is deprecated"), pytest.raises(ChartError):
            getattr(charts, name)([1], group="touchpoint")


def test_deprecation_helpers():
    @renamed_kwargs(old="new")
    def f(*, new=None):
        return new

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert f(new=1) == 1                       # the new name: no warning
    with pytest.warns(DeprecationWarning, match="f\\(\\): 'old=' is deprecated.*use 'new='"):
        assert f(old=2) == 2
    with pytest.raises(TypeError, match="both 'old'"):
        f(old=1, new=2)
    assert list(inspect.signature(f).parameters) == ["new"]
    g = deprecated_alias(f, "g")
    with pytest.warns(DeprecationWarning, match="'g' is deprecated.*use 'f'"):
        assert g(new=3) == 3
