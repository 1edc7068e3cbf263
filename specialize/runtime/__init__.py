"""The runtime every stage stands on: typed errors, the workspace and its path confinement, the job runner,
the registries and their experiment-tracker mirror, the tool catalog, the params/result schema base classes
and the embedded-model locator.

May import: the standard library and third-party packages only; no other ``specialize`` package (the catalog
finds ``specialize.tools`` by name at run time, it does not import it statically).
"""
