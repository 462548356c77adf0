"""The journey KPI library: each KPI defined once (`catalogue.py`), computed over the shared scope
(`kpis.kpi_table`), trended against targets (`scorecard.scorecard_table`) and tied to the
operational KPIs behind it (`tree.kpi_tree_table`). Roles (`roles.py`) say which activities are
the goal, the cart, a contact ... so no KPI names a demo activity."""

from .catalogue import CATALOGUE, Measure  # noqa: F401
from .kpis import MeasureError, kpi_table  # noqa: F401
from ...roles import ATTRIBUTE_RULES, ROLE_RULES, RolesError  # noqa: F401
from .scorecard import scorecard_table  # noqa: F401
from .tree import DEFAULT_TREE, kpi_tree_table  # noqa: F401
