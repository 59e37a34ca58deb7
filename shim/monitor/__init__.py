"""Views of dockerd kept current in the background: its event stream and what is built from
it.
"""
