"""roles/dask_cluster/library/dask_node_state.py: what a node holds, item by item, so that a
run finds what changed since the node was configured (roles/dask_cluster/tasks/scope.yml).
The units it reads are tested on real nodes (tests/integration/test_local_cloud.py)."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("dask_node_state", ROOT / "roles/dask_cluster/library/dask_node_state.py")
node_state = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(node_state)


def make_tree(root):
    (root / "etc/dask/tls").mkdir(parents=True)
    (root / "etc/dask/dask.yaml").write_text("distributed: {}\n")
    (root / "etc/dask/tls/node.pem").write_text("certificate\n")
    (root / "etc/dask/__pycache__").mkdir()
    (root / "etc/dask/__pycache__/preload.pyc").write_bytes(b"\0")
    (root / "etc/dask/configured-from").write_text("{}\n")
    (root / "envs/a/site-packages/dask-2026.8.0.dist-info").mkdir(parents=True)
    (root / "envs/b/site-packages").mkdir(parents=True)
    (root / "env").symlink_to(root / "envs/a")
    return {"files": [f"{root}/etc/dask", f"{root}/env", f"{root}/unit-*.service"],
            "names": [f"{root}/env/site-packages/*.dist-info"], "skip": ["__pycache__"],
            "dirs": [f"{root}/envs"], "units": [], "accounts": [], "sysctl_files": [], "packages": False,
            "record": f"{root}/etc/dask/configured-from"}


def read(spec):
    return node_state.read_state(None, spec)


def differs(before, after):
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def test_an_unchanged_node_reads_the_same_and_caches_or_the_record_do_not_count(tmp_path):
    spec = make_tree(tmp_path)
    before = read(spec)
    (tmp_path / "etc/dask/__pycache__/other.pyc").write_bytes(b"\1")
    (tmp_path / "etc/dask/configured-from").write_text('{"config": "x"}\n')
    assert read(spec) == before
    assert before[f"{tmp_path}/unit-*.service"] == "absent"
    assert all(len(value) == 16 for key, value in before.items() if not key.endswith("*.service"))


def test_each_kind_of_drift_names_its_item(tmp_path):
    spec = make_tree(tmp_path)
    before = read(spec)
    config = tmp_path / "etc/dask/dask.yaml"

    config.write_text("distributed: {edited: true}\n")
    assert differs(before, read(spec)) == [str(config)]
    config.write_text("distributed: {}\n")

    config.chmod(0o600)
    assert differs(before, read(spec)) == [str(config)]
    config.chmod(0o644)
    assert read(spec) == before

    (tmp_path / "etc/dask/tls/node.pem").unlink()
    assert differs(before, read(spec)) == [f"{tmp_path}/etc/dask/tls/node.pem"]
    (tmp_path / "etc/dask/tls/node.pem").write_text("certificate\n")

    # The environment in use: where the link points, and which packages it holds.
    (tmp_path / "env").unlink()
    (tmp_path / "env").symlink_to(tmp_path / "envs/b")
    assert differs(before, read(spec)) == sorted([f"{tmp_path}/env", f"names:{tmp_path}/env/site-packages/*.dist-info"])
    (tmp_path / "env").unlink()
    (tmp_path / "env").symlink_to(tmp_path / "envs/a")
    (tmp_path / "envs/a/site-packages/dask-2026.8.0.dist-info").rename(tmp_path / "envs/a/site-packages/dask-2026.7.1.dist-info")
    assert differs(before, read(spec)) == [f"names:{tmp_path}/env/site-packages/*.dist-info"]

    # A directory of the services' data: its mode counts, not what it holds.
    (tmp_path / "envs/c").mkdir()
    assert differs(before, read(spec)) == [f"names:{tmp_path}/env/site-packages/*.dist-info"]
    (tmp_path / "envs").chmod(0o700)
    assert f"dir:{tmp_path}/envs" in differs(before, read(spec))
    (tmp_path / "envs").chmod(0o755)

    # A unit file that appears where the pattern matched none.
    (tmp_path / "unit-extra.service").write_text("[Unit]\n")
    assert f"{tmp_path}/unit-*.service" in differs(before, read(spec))


def test_the_record_reads_as_json_or_as_none(tmp_path):
    record = tmp_path / "configured-from"
    assert node_state.read_record(str(record)) == {}
    record.write_text("0123abcd\n")  # a record of an older release: a digest alone
    assert node_state.read_record(str(record)) == {}
    record.write_text('{"config": "x", "state": {"a": "b"}}\n')
    assert node_state.read_record(str(record)) == {"config": "x", "state": {"a": "b"}}


def test_accounts_and_sysctls_count_with_what_the_system_says(tmp_path):
    accounts = node_state.accounts_state(["root", "no-such-user-here"])
    assert len(accounts["account:root"]) == 16 and accounts["account:no-such-user-here"] == "absent"
    conf = tmp_path / "60-dask.conf"
    conf.write_text("# comment\nkernel.ostype = Linux\nnet.no.such.key=1\n")
    sysctls = node_state.sysctl_state([str(conf), str(tmp_path / "missing.conf")])
    with open("/proc/sys/kernel/ostype") as handle:
        assert sysctls["sysctl:kernel.ostype"] == node_state.short(" ".join(handle.read().split()))
    assert sysctls["sysctl:net.no.such.key"] == node_state.short("unreadable")
    assert set(sysctls) == {"sysctl:kernel.ostype", "sysctl:net.no.such.key"}
