"""Identity of model images: same inputs give the same tag and byte-identical contexts."""

from __future__ import annotations

from pathlib import Path

from maas_iac.artifacts.context import Batching, ImageRecipe, context_fingerprint, write_context
from maas_iac.source import GitMirror, read_model_tree
from maas_iac.spec.model import AllVersions, LatestVersions


def _recipe(repo, tmp_path, **kw) -> ImageRecipe:
    rev = GitMirror(tmp_path / "cache").resolve(str(repo.path), "main")
    tree = read_model_tree(rev, "models/m", LatestVersions(count=1))
    return ImageRecipe(model_name="m", tree=tree, base_image=kw.pop("base", "127.0.0.1:5000/maas/serving:2.21.0"), **kw)


def test_same_inputs_same_tag_and_byte_identical_context(model_repo, tmp_path: Path) -> None:
    a = write_context(_recipe(model_repo, tmp_path), tmp_path / "a")
    b = write_context(_recipe(model_repo, tmp_path), tmp_path / "b")
    assert context_fingerprint(a) == context_fingerprint(b)
    assert _recipe(model_repo, tmp_path).tag == _recipe(model_repo, tmp_path).tag


def test_tag_is_md_and_twelve_hex_digits_of_the_digest(model_repo, tmp_path: Path) -> None:
    recipe = _recipe(model_repo, tmp_path)
    assert recipe.tag == "md-" + recipe.digest[:12]
    assert len(recipe.digest) == 64


def test_model_byte_base_image_labels_and_batching_each_change_the_tag(model_repo, tmp_path: Path) -> None:
    base = _recipe(model_repo, tmp_path).tag
    assert _recipe(model_repo, tmp_path, base="other/serving:1").tag != base
    assert _recipe(model_repo, tmp_path, version_labels={"stable": 1}).tag != base
    assert _recipe(model_repo, tmp_path, batching=Batching()).tag != base
    model_repo.write_version(1, b"onE")
    model_repo.commit("retrain")
    assert _recipe(model_repo, tmp_path).tag != base


def test_dockerfile_has_one_layer_per_version_and_oci_labels(model_repo, tmp_path: Path) -> None:
    model_repo.write_version(2, b"two")
    model_repo.commit("v2")
    rev = GitMirror(tmp_path / "cache").resolve(str(model_repo.path), "main")
    recipe = ImageRecipe("m", read_model_tree(rev, "models/m", AllVersions()), "base:1", {"stable": 1, "canary": 2})
    df = recipe.dockerfile()
    assert df.startswith("FROM base:1\n")
    assert "COPY model/1 /models/m/1" in df and "COPY model/2 /models/m/2" in df
    assert f'LABEL org.opencontainers.image.revision="{rev.sha}"' in df
    assert f'LABEL io.maas-iac.model-digest="{recipe.digest}"' in df
    assert 'CMD ["--model_config_file=/models/models.config"]' in df


def test_models_config_is_tf_serving_text_format(model_repo, tmp_path: Path) -> None:
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    recipe = _recipe(model_repo, tmp_path, version_labels={"stable": 1})
    cfg = text_format.Parse(recipe.models_config, model_server_config_pb2.ModelServerConfig())
    (model,) = cfg.model_config_list.config
    assert (model.name, model.base_path) == ("m", "/models/m")
    assert list(model.model_version_policy.specific.versions) == [1]
    assert dict(model.version_labels) == {"stable": 1}


def test_batching_parameters_use_tf_servings_text_format(model_repo, tmp_path: Path) -> None:
    recipe = _recipe(model_repo, tmp_path, batching=Batching(max_batch_size=8, batch_timeout_micros=500))
    lines = recipe.batching_parameters.splitlines()
    assert "max_batch_size { value: 8 }" in lines
    assert "batch_timeout_micros { value: 500 }" in lines
    assert {ln.split()[0] for ln in lines} == {"max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches"}
    assert "--enable_batching=true" in recipe.server_args
    assert "--batching_parameters_file=/models/batching.config" in recipe.server_args
