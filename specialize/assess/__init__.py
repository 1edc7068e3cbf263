"""Assessment and economics: the dated price and GPU tables and their look-ups, and the readable tables
the economics tools print.

May import: ``specialize.runtime``.
"""
