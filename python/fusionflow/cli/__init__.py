"""The ``fusionflow`` command line."""
