#!/usr/bin/env python
"""Django's command-line utility for Access Portal."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accessportal.settings")
    from accessportal.startup import exit_on_configuration_error

    exit_on_configuration_error()  # a settings error: one line and exit status 2
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
