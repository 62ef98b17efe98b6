"""Entry point of the Pulumi program (Pulumi.yaml): see maas_iac/program.py."""

from maas_iac.program import main

main()
