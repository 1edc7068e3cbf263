"""specialize: turn a narrow LLM task into a small specialist model, and decide whether that pays.

The faces are ``specialize.tools`` (one module per capability, typed params in, typed result out), the MCP
server in ``specialize.server`` and the CLI in ``specialize.cli``. Beneath them the engine is grouped by workflow
stage: ``assess``, ``llm``, ``data``, ``training``, ``evaluation``, ``export``, ``demo``, all standing on
``runtime``. See docs/architecture.md.
"""

__version__ = "0.1.0"
