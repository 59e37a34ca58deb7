"""Supervising pods: the agent, pod workers, container lifecycle, hooks, restart back-off."""
