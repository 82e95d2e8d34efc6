"""accessctl: the command-line client of Access Portal.

It speaks only the public REST API (`/api/v1/`) with the standard library, so it installs
and starts quickly and never imports the server's code.
"""

__version__ = "0.1.0"
