"""The learned placement policy (see docs/rl.md).

Pure-Python parts (:mod:`.features`, :mod:`.objective`) import nothing heavy; the environment
needs gymnasium and numpy, the model and the ``rl:PATH`` policy need torch, training needs Ray
RLlib: all in the ``rl`` extra (``pip install hyperion[rl]``).
"""
