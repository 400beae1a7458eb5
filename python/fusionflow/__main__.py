"""``python -m fusionflow``: the same CLI as the ``fusionflow`` script."""

from fusionflow.cli.main import main

main()
