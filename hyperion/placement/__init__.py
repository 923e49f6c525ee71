"""Placement: the Policy interface shared by hyperiond and the simulator, and the policies."""
