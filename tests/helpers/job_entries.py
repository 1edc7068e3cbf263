"""Job entry points used by the job-runner tests (imported by the worker process by name)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any


def spawn_helper_and_wait(raw: dict[str, Any], ctx: Any) -> dict[str, Any]:
    """Start a helper process (as the LLM shards do), record its pid, then keep working until stopped."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    (ctx.run_dir / "child.pid").write_text(str(child.pid))
    for step in range(600):
        ctx.progress(step, 600)
        time.sleep(0.1)
    return {"done": True}
