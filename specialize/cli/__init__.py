"""The ``specialize`` command: the console entry point, the typer app, commands generated from the tool
catalog, and installing the playbooks where coding agents look for skills.

Top of the dependency order: may import ``specialize.tools``, ``specialize.server`` and every stage package.
"""
