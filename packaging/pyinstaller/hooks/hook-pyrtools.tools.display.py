"""pyrtools.tools.display: pyrtools' matplotlib plotting, left out (see hook-pyrtools.py)."""

excludedimports = ["matplotlib", "IPython"]
