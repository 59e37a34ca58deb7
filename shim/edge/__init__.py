"""The RPC edge: one wrapper per call (deadline, error mapping, logging, metrics) and the
servicer table.
"""
