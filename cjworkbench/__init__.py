"""cjworkbench: customer-journey analytics on one embedded DuckDB model."""

__version__ = "0.1.0"

from .db import connect  # noqa: E402
from .errors import WorkbenchError  # noqa: E402

__all__ = ["connect", "WorkbenchError", "__version__"]
