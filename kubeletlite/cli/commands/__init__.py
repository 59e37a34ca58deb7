"""The bigger kubeletlite commands, one module each (the parser and the rest are in cli)."""
