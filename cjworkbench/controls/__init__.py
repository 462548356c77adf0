"""Dashboard controls: the only package that imports ipywidgets.

A notebook makes one `panel(...)` from its parameters cell (the shared filters: dates, segment,
channel, persona) and then calls `show(panel, table, chart, ...)` or `show_table(...)` per output;
options made with `option(name, value)` (from the parameter registry), `choice()`, `number()` or
`steps()` become the view's own widgets. With `interactive=False` (papermill reports) no widget is
made and every chart is a static SVG.

- `widgets.py`: controls made from registry entries, and `safe()` error handling for callbacks;
- `panel.py`: the shared filter panel (parameters and URL values checked through the registry);
- `view.py`: `show` / `show_table`, the redrawing view and its small result cache;
- `needs.py`: what a view needs from the database (`requires=`), the sentence when it is missing;
- `headline_view.py`: `headline(panel, page)`, the band of figures and the sentence that opens every page;
- `choices.py`: `data_option()`, options left empty taken from the designs, else the data.
"""

from ..display import chart_svg
from ..scope import Filters
from .choices import data_option
from .headline_view import headline
from .needs import NEEDS
from .panel import ALL, URL_PARAMETERS, Panel, panel, url_parameters
from .view import CACHE_SIZE, Designed, View, designed, show, show_table
from .widgets import (GENERIC_MESSAGE, Control, ControlError, choice, log, message_for, number, option, safe,
                      server_log, steps)

__all__ = ["ALL", "CACHE_SIZE", "GENERIC_MESSAGE", "URL_PARAMETERS", "Control", "ControlError", "Designed",
           "Filters", "NEEDS", "Panel", "View", "chart_svg", "choice", "data_option", "designed", "headline", "log",
           "message_for", "number", "option", "panel", "safe", "server_log", "show", "show_table", "steps", "url_parameters"]
