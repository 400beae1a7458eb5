"""``python -m fusionflow``: the same CLI as the ``fusionflow`` script."""

from fusionflow.cli import main

main()
