"""`cjw lab`: JupyterLab on the notebooks against one database; `.py` notebooks open and save as
notebooks through jupytext, and nothing `.ipynb` is written beside them."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request

import jupytext
import pytest

from cjworkbench import cli
from cjworkbench.lab import lab_command

from .conftest import ROOT

TOKEN = "test-token-not-secret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def test_lab_opens_py_notebooks_as_notebooks_and_writes_no_ipynb(demo_db, tmp_path):
    db, _ = demo_db
    notebooks = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", notebooks)
    before = {p.name: p.read_text() for p in notebooks.iterdir()}
    port = _free_port()
    argv, env = lab_command(db, notebooks, port=port, open_browser=False, state=tmp_path / "state")
    assert env["CJW_DB"] == str(db.absolute())
    proc = subprocess.Popen(argv + [f"--IdentityProvider.token={TOKEN}"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            if proc.poll() is not None:
                break
            try:
                _call(f"{base}/api/status")
                break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not start: " + proc.stderr.read()[-2000:])
        model = _call(f"{base}/api/contents/overview.py?type=notebook&content=1")
        assert model["type"] == "notebook"
        params = [c for c in model["content"]["cells"] if "parameters" in c["metadata"].get("tags", [])]
        assert params and 'db = ""' in params[0]["source"]
        _call(f"{base}/api/contents/overview.py", "PUT", {"type": "notebook", "format": "json",
                                                            "content": model["content"]})   # a save from the lab
        settings = _call(f"{base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert settings["settings"]["defaultViewers"]["python"] == "Jupytext Notebook"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert sorted(p.name for p in notebooks.rglob("*")) == sorted(before)   # no .ipynb, no checkpoints folder
    saved, original = (jupytext.reads(text, fmt="py:percent") for text in
                       (notebooks.joinpath("overview.py").read_text(), before["overview.py"]))
    assert [c.source for c in saved.cells] == [c.source for c in original.cells]   # saved back as the same .py


def test_lab_says_what_is_missing(tmp_path, capsys):
    assert cli.main(["lab", "--db", str(tmp_path / "none.duckdb"), "--no-browser"]) == 2
    assert "does not exist" in capsys.readouterr().err
