"""``python -m inoplan``."""

from inoplan.cli.main import main

main()
