"""``python -m api.cli``: the ``sme-export`` command line."""

from api.cli import main

main()
