"""The conda provider on every node: Miniforge as pinned, the Dask environment from conda-forge
at the same prefix the units and the client PATH use, with the pinned versions."""

import json

import pytest

testinfra_hosts = ["ansible://all"]
CONDA = "/opt/conda"
ENV = "/opt/dask/env"


def test_miniforge_is_installed_at_the_pinned_version(host):
    assert host.file(f"{CONDA}/.miniforge-version").content_string.strip() == "25.11.0-1"
    assert host.run(f"{CONDA}/bin/conda --version").rc == 0
    assert host.run(f"{CONDA}/bin/mamba --version").rc == 0


def test_condarc_uses_conda_forge_only(host):
    result = host.run(f"{CONDA}/bin/conda config --show channels channel_priority --json")
    assert result.rc == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["channels"] == ["conda-forge"]
    assert config["channel_priority"] == "strict"


def test_the_dask_environment_is_a_conda_environment(host):
    assert host.file(f"{ENV}/conda-meta/history").exists
    assert not host.file(f"{ENV}/pyvenv.cfg").exists
    assert host.file(f"{ENV}/bin/dask").exists


@pytest.mark.parametrize("package,version", [("dask-core", "2026.8.0"), ("distributed", "2026.8.0"),
                                             ("numpy", "2.4.6"), ("msgpack-python", "1.2.4")])
def test_pinned_packages_come_from_conda_forge(host, package, version):
    result = host.run(f"{CONDA}/bin/conda list --prefix {ENV} --json")
    assert result.rc == 0, result.stderr
    installed = {p["name"]: p for p in json.loads(result.stdout)}
    assert installed[package]["version"] == version
    assert installed[package]["channel"] == "conda-forge"


def test_the_environment_python_is_the_configured_one(host):
    result = host.run(f"{ENV}/bin/python -c 'import sys; print(sys.version_info[:2])'")
    assert result.stdout.strip() == "(3, 12)"
