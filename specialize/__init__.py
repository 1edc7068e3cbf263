"""specialize: turn a narrow LLM task into a small specialist model, and decide whether that pays.

The engine lives in ``specialize.tools`` (pure functions, typed params in, typed result out); the MCP
server in ``specialize.server`` and the CLI in ``specialize.cli`` are thin adapters over it.
"""

__version__ = "0.1.0"
