"""The package installs as one import package and finds its skills and references through importlib.resources."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_installed_package_finds_references_and_skills():
    from specialize.runtime.workspace import references_root, skills_root

    assert (references_root() / "__init__.py").exists()
    assert skills_root().is_dir()
    # every top-level playbook folder that exists in the repo is visible through the package
    repo_skills = {p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md")}
    assert repo_skills == {p.parent.name for p in skills_root().glob("*/SKILL.md")}


@pytest.mark.slow
def test_non_editable_install_into_a_fresh_venv(tmp_path):
    """`pip install .` (not editable) into a new venv ships skills/ and references/ as package data."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True, env=env, capture_output=True)
    code = (
        "import specialize, specialize.tools, specialize.server;"
        "from specialize.runtime.workspace import references_root, skills_root;"
        "print(specialize.__file__);"
        "print(sorted(p.name for p in skills_root().iterdir() if p.is_dir() and not p.name.startswith('_')));"
        "print(sum(1 for p in references_root().rglob('*') if p.is_file()))"
    )
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    lines = out.splitlines()
    assert str(venv) in lines[0], "imported from the fresh venv, not the checkout"
    assert "site-packages" in lines[0]
    expected = sorted(p.parent.name for p in (ROOT / "skills").glob("*/SKILL.md"))
    assert eval(lines[1]) == expected
    assert int(lines[2]) >= 1
