"""What `make demo` installs is permissive (issue #16): the runtime lock is exactly the dependency
closure of the package (and `cjw lab`) in the installed metadata, each of its packages carries a
permissive licence or an allowance with a reason, and the README lists them all."""

from __future__ import annotations

from pathlib import Path

from .licences import (ALLOWED, END, START, ROOT, is_permissive, licence, read_lock, runtime_packages, split,
                       table)


def test_the_licence_rule_tells_permissive_from_copyleft():
    for text in ("MIT", "BSD-3-Clause", "Apache-2.0 OR BSD-2-Clause", "BSD License", "ISC License (ISCL)",
                 "PSF-2.0", "MPL-2.0 AND MIT"):
        assert is_permissive(text), text
    for text in ("GPLv3", "GNU Affero General Public License v3", "LGPL-2.1-or-later", "AGPL-3.0",
                 "MIT AND GPL-3.0-or-later", "unknown", "Copyright 2013 Someone"):
        assert not is_permissive(text), text


def test_the_known_copyleft_references_are_classified_as_such():
    # pm4py (AGPL) and cvxopt (GPL), which it pulls in, are installed for the tests: the metadata says so
    assert not is_permissive(licence("pm4py")) and not is_permissive(licence("cvxopt"))


def test_every_runtime_package_is_permissive():
    runtime = read_lock(ROOT / "requirements.lock")
    offending = {n: licence(n) for n in runtime if not is_permissive(licence(n)) and n not in ALLOWED}
    assert not offending, (f"runtime packages without a permissive licence: {offending}; move them to "
                           f"requirements-test.lock, or add them to tests/licences.py ALLOWED with the reason")


def test_the_runtime_lock_is_the_dependency_closure():
    """A test-only package in requirements.lock (or a runtime one missing from it) fails here:
    `make lock` (python -m tests.licences --lock) splits the venv again."""
    runtime, test = read_lock(ROOT / "requirements.lock"), read_lock(ROOT / "requirements-test.lock")
    needed = runtime_packages()
    assert not set(runtime) - needed, f"not needed at run time, belong in requirements-test.lock: {set(runtime) - needed}"
    assert not needed & set(test), f"needed at run time, belong in requirements.lock: {needed & set(test)}"
    assert split({**runtime, **test}) == ([l for _, l in sorted(runtime.items())], [l for _, l in sorted(test.items())])


def test_the_readme_lists_each_runtime_licence():
    readme = (ROOT / "README.md").read_text()
    assert START in readme and END in readme, "README lacks the licence table markers"
    assert readme.split(START, 1)[1].split(END, 1)[0].strip() == table(), \
        "the README's licence table is stale: python -m tests.licences --write README.md"
    assert Path(ROOT / "requirements-test.lock").is_file()
