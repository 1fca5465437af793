"""``python -m inoplan``."""

from inoplan.cli.entry import main

main()
