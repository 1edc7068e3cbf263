"""Typed errors. Each says what is wrong and how to fix it.

Tools raise these; the MCP adapter lets the SDK turn them into an ``isError`` result the agent can read,
and the CLI prints them without a traceback.
"""

from __future__ import annotations


class SpecializeError(Exception):
    """Base class: ``problem`` says what went wrong, ``fix`` says what to do about it."""

    code = "error"

    def __init__(self, problem: str, fix: str | None = None, **details: object) -> None:
        self.problem = problem
        self.fix = fix
        self.details = details
        super().__init__(self.__str__())

    def __str__(self) -> str:  # the message an agent or a person reads
        text = f"[{self.code}] {self.problem}"
        if self.fix:
            text += f" Fix: {self.fix}"
        return text


class InvalidInput(SpecializeError):
    """An argument has a bad value or a file has bad content."""

    code = "invalid_input"


class PathEscape(SpecializeError):
    """A path argument points outside the workspace."""

    code = "path_outside_workspace"


class NotFound(SpecializeError):
    """A file, job or artifact that was named does not exist."""

    code = "not_found"


class DependencyMissing(SpecializeError):
    """An optional extra (train, gguf, gpu) is needed but not installed."""

    code = "dependency_missing"


class JobError(SpecializeError):
    """A job cannot be started, followed or cancelled as asked."""

    code = "job_error"


class UpstreamError(SpecializeError):
    """A model provider or local model server failed after retries."""

    code = "upstream_error"


def require(module: str, extra: str) -> None:
    """Fail with a clear message when an optional dependency is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise DependencyMissing(
            f"This step needs the Python package '{module}', which is not installed.",
            fix=f"Install the '{extra}' extra: pip install 'specialize[{extra}]' (or run `make setup`).",
        )
