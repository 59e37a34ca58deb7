"""Copying container output from dockerd into CRI-format log files, without loss."""
