"""Staff accounts from the command line: ``python -m staff create | list | disable``."""
