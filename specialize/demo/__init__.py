"""``specialize demo``: the whole workflow run offline on the embedded model, and its report.

Sits at the top with the CLI and the server: it calls tools through the catalog (``specialize.runtime.catalog``)
and may import every stage package, never ``specialize.server``.
"""
