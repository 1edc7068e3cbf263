"""Copy the bundled playbooks to where coding agents look for skills.

Claude Code reads ``.claude/skills/<name>/SKILL.md`` (in the project, or ``~/.claude/skills`` for the user);
Codex reads ``.agents/skills/<name>/SKILL.md`` (in the project, or ``~/.agents/skills``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from specialize.runtime.errors import InvalidInput
from specialize.runtime.workspace import skills_root

TARGET_DIRS = {"claude": Path(".claude") / "skills", "codex": Path(".agents") / "skills"}


def bundled_skills() -> list[Path]:
    return sorted(p.parent for p in skills_root().glob("*/SKILL.md"))


def install_skills(target: Literal["claude", "codex"], scope: Literal["user", "project"] = "user",
                   *, project_dir: Path | None = None, home: Path | None = None) -> list[Path]:
    if target not in TARGET_DIRS:
        raise InvalidInput(f"Unknown agent '{target}'.", fix="Use --target claude or --target codex.")
    if scope not in ("user", "project"):
        raise InvalidInput(f"Unknown scope '{scope}'.", fix="Use --scope user or --scope project.")
    base = (home or Path.home()) if scope == "user" else (project_dir or Path.cwd())
    dest_root = base / TARGET_DIRS[target]
    dest_root.mkdir(parents=True, exist_ok=True)
    installed = []
    for src in bundled_skills():
        dest = dest_root / src.name
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "*.pyc"))
        installed.append(dest)
    return installed
