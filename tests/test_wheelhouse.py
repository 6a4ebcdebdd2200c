"""scripts/build-wheelhouse.py: the pinned list, the spec digest, a reproducible archive."""

import importlib.util
import tarfile

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("build_wheelhouse", ROOT / "scripts" / "build-wheelhouse.py")
build_wheelhouse = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build_wheelhouse)


def test_every_package_is_pinned_exactly():
    packages = build_wheelhouse.pinned_packages()
    assert any(p.startswith("distributed==") for p in packages)
    assert all("==" in p for p in packages), "an unpinned package would let nodes drift apart"


def test_digest_follows_the_spec():
    base = build_wheelhouse.spec_digest(["dask==1"], "3.11", "x86_64")
    assert base == build_wheelhouse.spec_digest(["dask==1"], "3.11", "x86_64")
    assert base != build_wheelhouse.spec_digest(["dask==2"], "3.11", "x86_64")
    assert base != build_wheelhouse.spec_digest(["dask==1"], "3.12", "x86_64")
    assert base != build_wheelhouse.spec_digest(["dask==1"], "3.11", "aarch64")


def test_archive_is_reproducible(tmp_path):
    source = tmp_path / "wheels"
    source.mkdir()
    (source / "b-1.0-py3-none-any.whl").write_bytes(b"b")
    (source / "a-1.0-py3-none-any.whl").write_bytes(b"a")
    first, second = tmp_path / "one.tar", tmp_path / "two.tar"
    build_wheelhouse.pack(source, first)
    (source / "a-1.0-py3-none-any.whl").touch()  # a new mtime must not change the bytes
    build_wheelhouse.pack(source, second)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert tar.getnames() == ["wheelhouse", "wheelhouse/a-1.0-py3-none-any.whl", "wheelhouse/b-1.0-py3-none-any.whl"]


def test_pin_replaces_the_pin_of_the_same_package_and_refuses_unknown_ones():
    packages = ["dask[array,dataframe]==2026.8.0", "distributed==2026.8.0", "numpy==2.4.6"]
    replaced = build_wheelhouse.replace_pins(packages, ["dask[array,dataframe]==2026.7.1", "Distributed==2026.7.1"])
    assert replaced == ["dask[array,dataframe]==2026.7.1", "Distributed==2026.7.1", "numpy==2.4.6"]
    with pytest.raises(SystemExit, match="pandas"):
        build_wheelhouse.replace_pins(packages, ["pandas==3.0.0"])
