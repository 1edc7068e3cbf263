"""Assessment and economics: the dated price and GPU tables and their look-ups, the thresholds and planning
defaults of references/economics, the decision model behind decide_specialization (cost model, sampling, flip
points, measured quality), its decision.md memo, and the readable tables the economics tools print.

May import: ``specialize.runtime``.
"""
