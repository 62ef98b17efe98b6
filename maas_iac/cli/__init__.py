"""The ``maas`` command line: a flat dispatcher (:mod:`maas_iac.cli.main`) over one module
per command."""
