"""The conda role and the conda provider of dask_env, without network or Docker: the rendered
.condarc and environment.yml, the checks that refuse bad settings, the provider list, and the
composition in the playbooks and inventories. The role's install path (stand-in installer,
checksum mismatch, idempotence, upgrade) is tested in tests/integration/test_conda_role.py."""

import sys

import pytest
import yaml

from conftest import ROOT, ansible_playbook, valid_inventory

DASK_ENV = ROOT / "roles" / "dask_env"
MIRROR = "https://conda.example.internal"
# Settings per rendered variant; one playbook run renders them all, one local 'host' each.
VARIANTS = {
    "plain": {},
    "mirror": {
        "conda_channels": [f"{MIRROR}/conda-forge"],
        "conda_channel_alias": MIRROR,
        "conda_condarc_extra": {"ssl_verify": "/etc/ssl/certs/ca-certificates.crt"},
        "dask_env_extra_packages": ["Msgpack>=1.0,<2", "sparse==0.16.0"],
        "dask_env_conda_python": "3.11",
    },
    "anaconda": {"conda_channels": ["conda-forge", "defaults"]},
}


def load(path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """{variant: {'.condarc': dict, 'environment.yml': dict, 'text': {name: str}}}."""
    workdir = tmp_path_factory.mktemp("render")
    hosts = {}
    for name, variables in VARIANTS.items():
        out = workdir / name
        out.mkdir()
        hosts[name] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                       "render_dir": str(out), "conda_prefix": str(out), "dask_env_provider": "conda", **variables}
    rc, output = ansible_playbook("tests/playbooks/render-conda-files.yml", {"all": {"hosts": hosts}}, workdir)
    assert rc == 0, output
    files = {}
    for name in VARIANTS:
        text = {path: (workdir / name / path).read_text() for path in (".condarc", "environment.yml")}
        files[name] = {path: yaml.safe_load(content) for path, content in text.items()} | {"text": text}
    return files


def test_condarc_uses_conda_forge_only_with_strict_priority_and_no_updates(rendered):
    assert rendered["plain"][".condarc"] == {
        "channels": ["conda-forge"],
        "channel_priority": "strict",
        "auto_update_conda": False,
        "notify_outdated_conda": False,
        "report_errors": False,
        "show_channel_urls": True,
    }
    assert rendered["plain"]["text"][".condarc"].startswith("#"), "the managed-file comment is missing"


def test_environment_has_the_pip_providers_pins_with_conda_names(rendered):
    environment = rendered["plain"]["environment.yml"]
    assert environment["channels"] == ["conda-forge", "nodefaults"]
    dependencies = environment["dependencies"]
    assert dependencies[0] == "python=3.12"
    pins = load(DASK_ENV / "defaults" / "main.yml")["dask_env_packages"]
    assert len(dependencies) == 1 + len(pins)
    # Every pin keeps its exact version; only names change where conda-forge's differ.
    for pip_spec, conda_spec in zip(pins, dependencies[1:]):
        assert conda_spec.split("==")[1] == pip_spec.split("==")[1]
    for spec in ("dask-core==2026.8.0", "distributed==2026.8.0", "msgpack-python==1.2.4",
                 "prometheus_client==0.26.0", "numpy==2.4.6"):
        assert spec in dependencies
    assert [spec for spec in dependencies if "[" in spec] == [], "pip extras reached the conda spec"


def test_mirrors_extra_packages_and_python_reach_the_files(rendered):
    condarc = rendered["mirror"][".condarc"]
    assert condarc["channels"] == [f"{MIRROR}/conda-forge"]
    assert condarc["channel_alias"] == MIRROR
    assert condarc["ssl_verify"] == "/etc/ssl/certs/ca-certificates.crt"
    assert condarc["channel_priority"] == "strict"
    environment = rendered["mirror"]["environment.yml"]
    assert environment["channels"] == [f"{MIRROR}/conda-forge", "nodefaults"]
    assert environment["dependencies"][0] == "python=3.11"
    assert environment["dependencies"][-2:] == ["msgpack-python>=1.0,<2", "sparse==0.16.0"]


def test_anacondas_defaults_channel_only_when_asked_for(rendered):
    assert "defaults" not in rendered["plain"][".condarc"]["channels"]
    assert "defaults" not in rendered["plain"]["environment.yml"]["channels"]
    assert rendered["anaconda"][".condarc"]["channels"] == ["conda-forge", "defaults"]
    assert rendered["anaconda"]["environment.yml"]["channels"] == ["conda-forge", "defaults"]


def conda_cluster(**per_host):
    """A valid inventory using the conda provider, with settings for some hosts."""
    inventory = valid_inventory()
    inventory["all"]["vars"] = {"dask_env_provider": "conda"}
    for group in inventory["all"]["children"].values():
        for host, variables in group["hosts"].items():
            variables.update(per_host.get(host, {}))
    return inventory


# Each host carries one bad setting that the same check refuses, so one run shows them all.
BAD_SETTINGS = [
    ("conda settings", conda_cluster(
        sched={"conda_installer_sha256": {"x86_64": "abc123"}},
        w1={"conda_prefix": "/opt"},
        w2={"conda_version": "25.11.0"},
        c1={"conda_channels": []},
    ), ["conda_installer_sha256 must map each CPU architecture", "conda_prefix must be an absolute path of its own",
        "conda_version must be a Miniforge release such as 25.11.0-1", "conda_channels must be a non-empty list"]),
    ("conda provider settings", conda_cluster(
        sched={"dask_env_conda_python": 3.12},
        w1={"dask_env_extra_packages": ["mylib@https://example.invalid/mylib.whl"]},
    ), ["dask_env_conda_python must be a Python version such as \"3.12\"",
        "it cannot translate: mylib@https://example.invalid/mylib.whl"]),
    ("installer file not on the controller", conda_cluster(
        sched={"conda_installer_file": "/nonexistent/Miniforge3.sh"},
    ), ["conda_installer_file is '/nonexistent/Miniforge3.sh', which is not a file on the controller"]),
]


@pytest.mark.parametrize("case,inventory,expected", BAD_SETTINGS, ids=[case[0] for case in BAD_SETTINGS])
def test_cluster_playbook_refuses_bad_conda_settings_before_changing_anything(run_playbook, case, inventory,
                                                                              expected):
    rc, output = run_playbook("playbooks/cluster.yml", inventory)
    assert rc != 0
    for message in expected:
        assert message in output
    assert "PLAY [Prepare every node" not in output


def test_a_cluster_with_two_providers_is_refused(run_playbook):
    inventory = valid_inventory()
    inventory["all"]["children"]["dask_workers"]["vars"] = {"dask_env_provider": "conda"}
    rc, output = run_playbook("playbooks/cluster.yml", inventory)
    assert rc != 0
    assert "dask_env_provider must be the same on every node of the cluster" in output
    # The scheduler and the client have the settings the controller checked: they count as one.
    assert "w1=conda" in output and "the nodes of the shared settings=pip" in output
    assert "PLAY [Prepare every node" not in output


def test_a_conda_cluster_passes_validation_with_the_conda_checks(run_playbook):
    rc, output = run_playbook("playbooks/validate.yml", conda_cluster())
    assert rc == 0, output
    assert "TASK [conda : Check the conda settings]" in output


def test_conda_settings_are_not_checked_for_a_pip_cluster(run_playbook):
    inventory = valid_inventory()
    inventory["all"]["vars"] = {"conda_channels": []}  # wrong, but unused with pip
    rc, output = run_playbook("playbooks/validate.yml", inventory)
    assert rc == 0, output
    assert "TASK [conda : Check the conda settings]" not in output


def test_providers_are_listed_once_and_each_has_its_tasks():
    choices = load(DASK_ENV / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"][
        "dask_env_provider"]["choices"]
    role_vars = load(DASK_ENV / "vars" / "main.yml")
    files = sorted(p.name[len("install-"):-len(".yml")] for p in (DASK_ENV / "tasks").glob("install-*.yml"))
    assert sorted(choices) == sorted(role_vars["_dask_env_providers"]) == files == ["conda", "pip"]


def test_ec2_uses_conda_and_the_local_cloud_and_molecule_keep_pip():
    aws = load(ROOT / "inventory" / "aws" / "group_vars" / "all" / "cluster.yml")
    local = load(ROOT / "inventory" / "local" / "group_vars" / "all" / "cluster.yml")
    molecule = load(ROOT / "molecule" / "default" / "molecule.yml")["provisioner"]["inventory"]["group_vars"]["all"]
    assert aws["dask_env_provider"] == "conda"
    assert load(DASK_ENV / "defaults" / "main.yml")["dask_env_provider"] == "pip"
    for settings in (local, molecule):
        assert "dask_env_provider" not in settings
        assert settings["dask_env_wheelhouse"] is True


def included_roles(playbook, play_name):
    """[(role, task)] of the include_role and import_role tasks of the play named play_name*."""
    tasks = next(play["tasks"] for play in load(playbook) if str(play.get("name", "")).startswith(play_name))
    return [(task.get("ansible.builtin.include_role", task.get("ansible.builtin.import_role"))["name"], task)
            for task in tasks]


def test_cluster_playbook_runs_conda_right_before_dask_env_only_for_the_conda_provider():
    roles = included_roles(ROOT / "playbooks" / "cluster.yml", "Prepare every node")
    names = [name for name, _ in roles]
    assert names.index("conda") == names.index("dask_env") - 1
    conda = roles[names.index("conda")][1]
    assert conda["when"] == "dask_env_provider == 'conda'"
    # Public: dask_env's conda provider reads conda_prefix and conda_channels from conda's defaults.
    assert conda["ansible.builtin.include_role"]["public"] is True


def test_the_conda_test_playbook_composes_the_roles_as_cluster_yml_does():
    cluster = included_roles(ROOT / "playbooks" / "cluster.yml", "Prepare every node")
    test = included_roles(ROOT / "tests" / "playbooks" / "conda-node.yml", "Miniforge and the Dask environment")
    assert [name for name, _ in cluster][2:4] == [name for name, _ in test] == ["conda", "dask_env"]
    # Included the same way, so the conda provider reads the same variables in both.
    assert cluster[2][1]["ansible.builtin.include_role"] == test[0][1]["ansible.builtin.include_role"]
