"""The tutorial notebooks are stored in one form: outputs stripped, nothing machine-specific.

See ``notebooks/README.md``. To put a notebook you saved from Jupyter back into that form::

    python tests/test_notebooks_stored.py --fix

which clears outputs, execution counts and metadata other than the kernel; paths, tokens
and machine names in the cells' text must be removed by hand.
"""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
TUTORIALS = [
    "01-quick-start.ipynb",
    "02-watch-from-outside.ipynb",
    "03-experiments.ipynb",
    "04-under-the-hood.ipynb",
    "05-mnist.ipynb",
    "06-chapter-3-techniques.ipynb",
    "07-vanishing-gradient.ipynb",
    "08-runs-on-disk.ipynb",
]

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
METADATA = {"kernelspec": KERNELSPEC, "language_info": {"name": "python"}}
CELL_METADATA_KEYS = {"tags"}
FIX = "run `python tests/test_notebooks_stored.py --fix` to strip it"

# Text that ties a notebook to one machine or one session.
ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~$-])/(?:home|root|tmp|work|Users|var|opt|usr|etc|mnt|srv|private|media|run|proc)/"
    r"|\b[A-Za-z]:\\\\?[\w.-]"
    r"|file://"
)
TOKEN = re.compile(
    r"token=(?!<)[\w-]{8,}"  # a real ?token=... (placeholders look like <token>)
    r"|[\"']?token[\"']?\s*[:=]\s*[\"'](?!<)[^\"']{8,}[\"']"
    r"|\b[0-9a-f]{32,}\b"  # Jupyter and JupyterHub tokens: long hex strings
)
PRIVATE_ADDRESS = re.compile(
    r"\b(?:10|192\.168|172\.(?:1[6-9]|2\d|3[01]))(?:\.\d{1,3}){2,3}\b"
    r"|\b[\w-]+\.(?:local|internal|lan|localdomain)\b"
)


def machine_names() -> set[str]:
    """This machine's names, where they are specific enough to find in text."""
    names = set()
    for name in (socket.gethostname(), socket.getfqdn()):
        # a short plain word ("vm", "lab") cannot be told apart from prose
        if name and name != "localhost" and len(name) >= 6 and re.search(r"[\d.-]", name):
            names.add(name)
    return names


def problems_in_text(text: str) -> list[str]:
    """What in ``text`` ties it to a machine: absolute paths, tokens, machine names."""
    found = []
    for kind, pattern in (
        ("an absolute path", ABSOLUTE_PATH),
        ("a token", TOKEN),
        ("a machine's address", PRIVATE_ADDRESS),
    ):
        found += [f"{kind}: {m.group(0)!r}" for m in pattern.finditer(text)]
    here = str(ROOT)
    if here in text:
        found.append(f"this checkout's path: {here!r}")
    found += [f"this machine's name: {name!r}" for name in machine_names() if name in text]
    return found


def stored_form_problems(nb: Any) -> list[str]:
    """Every way ``nb`` differs from the stored form (empty when it is right)."""
    problems = []
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        problems.append(f"not a valid notebook: {exc.message}")
    if nb.get("nbformat") != 4 or nb.get("nbformat_minor", 0) < 5:
        problems.append("must be nbformat 4.5 or later (cells with ids)")
    if "widgets" in nb.metadata:
        problems.append(f"holds saved widget state (metadata.widgets): {FIX}")
    if dict(nb.metadata) != METADATA:
        problems.append(f"notebook metadata must be exactly {METADATA}, got {dict(nb.metadata)}: {FIX}")
    for index, cell in enumerate(nb.cells):
        where = f"cell {index} ({cell.cell_type})"
        extra = set(cell.get("metadata", {})) - CELL_METADATA_KEYS
        if extra:
            problems.append(f"{where} has metadata {sorted(extra)} (only tags are kept): {FIX}")
        if cell.cell_type == "code":
            if cell.get("outputs"):
                problems.append(f"{where} has outputs: {FIX}")
            if cell.get("execution_count") is not None:
                problems.append(f"{where} has an execution count: {FIX}")
        if cell.get("attachments"):
            problems.append(f"{where} has attachments (images belong in outputs, which are not stored)")
        problems += [f"{where} contains {p}" for p in problems_in_text(cell.source)]
    return problems


def strip(nb: Any) -> Any:
    """``nb`` in the stored form: no outputs, counts or metadata beyond the kernel and tags."""
    nb.metadata = nbformat.from_dict(json.loads(json.dumps(METADATA)))
    nb.nbformat, nb.nbformat_minor = 4, max(nb.get("nbformat_minor", 5), 5)
    for cell in nb.cells:
        cell.metadata = nbformat.from_dict(
            {k: v for k, v in cell.get("metadata", {}).items() if k in CELL_METADATA_KEYS}
        )
        cell.pop("attachments", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


# ----------------------------------------------------------------------------- tests
def test_the_tutorials_are_there_and_listed_in_the_readme() -> None:
    assert [p.name for p in NOTEBOOKS] == TUTORIALS
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    for name in TUTORIALS:
        assert f"({name})" in readme, f"notebooks/README.md does not link {name}"


def test_the_notebook_folder_holds_notebooks_and_their_readme_only() -> None:
    # hidden folders (.ipynb_checkpoints) and caches are Jupyter's and Python's, not ours
    names = sorted(
        p.name for p in NOTEBOOK_DIR.iterdir() if not p.name.startswith(".") and p.name != "__pycache__"
    )
    assert names == sorted([*TUTORIALS, "README.md"]), (
        "keep notebooks/ for notebooks; nbval settings live in conftest.py"
    )


def test_every_tutorial_names_its_chapters_and_has_exercises_with_solutions() -> None:
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    for name in TUTORIALS:
        (row,) = [line for line in readme.splitlines() if f"({name})" in line]
        assert "chapter" in row or "not in the book" in row, f"the README's table gives no chapter for {name}"
        text = "\n".join(cell.source for cell in nbformat.read(NOTEBOOK_DIR / name, as_version=4).cells)
        assert "## Exercises" in text, name
        assert "<details><summary>Solutions</summary>" in text, name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_stored_stripped(path: Path) -> None:
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    problems = stored_form_problems(nb)
    assert not problems, f"{path.name}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_starts_as_a_tutorial(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown", "start with the story, not with code"
    assert first.source.startswith("# "), "start with a title"
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    assert max(len(source.splitlines()) for source in code) <= 45, "keep cells short"
    assert any("assert " in source for source in code), "check the values that matter with assert"


def test_the_check_catches_what_it_should(tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    cell = nb.cells[1]
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    cell.execution_count = 3
    cell.metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {}}
    nb.cells[0].source += (
        "\nsee /home/ana/nnlab and http://127.0.0.1:8888/lab?token=0123456789abcdef0123"
        "\nC:\\Users\\ana and ana-laptop.local"
    )
    problems = "\n".join(stored_form_problems(nb))
    for expected in (
        "has outputs",
        "execution count",
        "metadata ['execution']",
        "widget state",
        "an absolute path: '/home/'",
        "an absolute path: 'C:\\\\U'",
        "a token: 'token=0123456789abcdef0123'",
        "a machine's address: 'ana-laptop.local'",
    ):
        assert expected in problems
    fixed = strip(nb)
    remaining = stored_form_problems(fixed)
    assert remaining
    assert all("contains" in p for p in remaining)  # text must be fixed by hand


@pytest.mark.parametrize(
    "text",
    [
        "io('https://<jupyter host>', {path: '/user/ana/proxy/8000/socket.io', query: {token: '<token>'}})",
        "GET /api/jobs/{job_id} and ~/.cache/nnlab/mnist or $NNLAB_DATA_DIR/mnist",
        "network_id 0d8da319-2268-48f3-b4bf-4a4432815aef at http://127.0.0.1:8000",
    ],
)
def test_ordinary_tutorial_text_passes(text: str) -> None:
    assert problems_in_text(text) == []


if __name__ == "__main__":
    if sys.argv[1:] != ["--fix"]:
        sys.exit(__doc__)
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.write(strip(nb), path)
        left = [p for p in stored_form_problems(nb) if "contains" in p]
        print(f"{path.name}: stripped" + "".join(f"\n  still to fix by hand: {p}" for p in left))
