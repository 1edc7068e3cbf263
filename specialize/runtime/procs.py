"""Helper processes that do not outlive the process that started them.

A job's worker leads its own process group, so a cancel (a signal to the group) reaches every helper. A worker
killed on its own (``kill -9 PID``, the out-of-memory killer) leaves its helpers behind, and an LLM shard
would go on spending provider calls whose answers nobody reads. On Linux a helper therefore asks the kernel,
as it starts, for a signal when its parent goes (``prctl(PR_SET_PDEATHSIG)``). Elsewhere these calls do
nothing, and the group kill of ``jobs.end_group`` remains the only clean-up.

The kernel sends the signal when the *thread* that created the helper ends, so helpers are started from a
thread that lives as long as they should (a job's main thread, a forked shard's parent).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1

_prctl = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved now: nothing is loaded between fork and exec
    except (OSError, AttributeError):
        _prctl = None


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Have this process receive ``sig`` when its parent exits; True where the platform supports it.

    ``parent_pid`` closes the race in which the parent died before the request was made: the process then
    exits at once instead of waiting for a signal that already passed.
    """
    if _prctl is None:
        return False
    if _prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
    return True


def preexec_die_with_parent(sig: int = signal.SIGTERM):
    """A ``preexec_fn`` for ``subprocess.Popen`` that ties a non-Python helper (``accelerate launch``) to the
    starting process; the signal survives ``exec``. SIGTERM by default, so the helper can stop its own children.

    Only for a process without other threads: Python warns that a ``preexec_fn`` may deadlock otherwise.
    """
    parent = os.getpid()

    def run() -> None:
        die_with_parent(parent, sig)

    return run


def tied_module_command(module: str, *args: str, sig: int = signal.SIGTERM) -> list[str]:
    """The command that runs ``python -m module args...`` as a helper that ends with this process.

    For long-lived helpers started from a process that may have other threads (a server, the demo), where a
    ``preexec_fn`` is unsafe: the helper's first act, before the module runs, is to ask for ``sig`` when its
    parent goes. Start it from a thread that lives as long as the helper should (see the module docstring).
    """
    return [sys.executable, "-m", "specialize.runtime.procs", str(os.getpid()), str(int(sig)), module, *args]


def _run_tied(argv: list[str]) -> None:
    import runpy

    parent, sig, module, *rest = argv
    die_with_parent(int(parent), int(sig))
    sys.argv = [module, *rest]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _run_tied(sys.argv[1:])
