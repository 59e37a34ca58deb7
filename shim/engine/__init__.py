"""The Docker Engine: the only aiodocker client, its protocol, and probes of what this host
allows.
"""
