"""Old public names kept working for one release, each with a `DeprecationWarning` that names
the new one. Only names a user could already depend on are kept: functions exported from
`cjworkbench` / `cjworkbench.charts` and their keyword arguments. Result columns have no alias.

    @renamed_kwargs(breakdown="by")
    def funnel_table(con, *, steps, by=None): ...

    process_map_chart = deprecated_alias(transitions_chart, "process_map_chart")
"""

from __future__ import annotations

import functools
import warnings

REMOVED_IN = "0.3"  # the release in which the old names go


def _warn(old: str, new: str, where: str) -> None:
    warnings.warn(f"{where}: '{old}' is deprecated and will be removed in cjworkbench {REMOVED_IN}; "
                  f"use '{new}' instead.", DeprecationWarning, stacklevel=3)


def renamed_kwargs(**old_to_new: str):
    """Decorator: accept each old keyword (warning once per call) and pass it on under its new name.
    Passing both the old and the new name is a TypeError."""
    def wrap(func):
        @functools.wraps(func)
        def inner(*args, **kwargs):
            for old, new in old_to_new.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{func.__name__}() got both '{old}' (deprecated) and '{new}'; "
                                        f"pass only {new}=.")
                    _warn(f"{old}=", f"{new}=", f"{func.__name__}()")
                    kwargs[new] = kwargs.pop(old)
            return func(*args, **kwargs)

        inner.renamed_kwargs = dict(old_to_new)
        return inner
    return wrap


def deprecated_alias(func, old_name: str):
    """`old_name` as a thin alias of `func` that warns on every call."""
    @functools.wraps(func)
    def alias(*args, **kwargs):
        _warn(old_name, func.__name__, "cjworkbench")
        return func(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated alias of `{func.__name__}` (removed in {REMOVED_IN})."
    alias.deprecated_alias_of = func.__name__
    return alias
