"""The kubectl-style command line and its output."""
