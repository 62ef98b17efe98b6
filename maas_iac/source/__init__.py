"""Version control: a model's Git revision and the content of its served versions.

Runs in plain Python before any Pulumi resource exists, so a bad repository, ref or model
path stops the program before anything is built or deployed.
"""

from maas_iac.source.git import GitMirror, Revision, check_ref, check_repository
from maas_iac.source.model_tree import ModelFile, ModelTree, read_model_tree, select_versions

__all__ = [
    "GitMirror",
    "ModelFile",
    "ModelTree",
    "Revision",
    "check_ref",
    "check_repository",
    "read_model_tree",
    "select_versions",
]
