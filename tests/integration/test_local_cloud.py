"""site.yml on the local Docker cloud, end to end: provision, configure, verify, a second
run with changed=0, the walkthrough from a client container and from this machine through
127.0.0.1, the dashboard in a real headless Chromium, then teardown leaving nothing behind.

Needs Docker, the node image, build/client-venv and chromium (scripts/bootstrap).
"""

import json
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest
import yaml

import browser
import jupyter_checks
import local_clusters
from local_clusters import BIN, ROOT, docker_lines, in_container
from playbook_output import changed_tasks, failure_report, recap, run_tasks

sys.path.insert(0, str(ROOT / "scripts"))
import version_monitor  # noqa: E402  (scripts/, shared with scripts/bench)
CLUSTER = "dask-it"
SCREENSHOT = ROOT / "build" / "dashboard-status.png"
OPERATOR = ROOT / "inventory" / "local" / ".tls" / CLUSTER / "operator"
pytestmark = pytest.mark.integration
CANVASES_IN_SHADOW_DOM = """
function count(root) {
  let n = root.querySelectorAll('canvas').length;
  for (const el of root.querySelectorAll('*')) { if (el.shadowRoot) { n += count(el.shadowRoot); } }
  return n;
}
return count(document);
"""


ansible_playbook = partial(local_clusters.ansible_playbook, CLUSTER)
cluster_containers = partial(local_clusters.cluster_containers, CLUSTER)


def cluster_networks():
    return docker_lines("network", "ls", "--filter", f"name=^dask-{CLUSTER}$", "--format", "{{.Name}}")


# The cluster starts one Dask release behind, with the packages a data team adds first, and
# playbooks/upgrade.yml moves it to the pins of roles/dask_env (which removes those again),
# so every test after the fixture also runs on an upgraded cluster.
PREVIOUS_PINS = ["dask[array,dataframe,diagnostics]==2026.7.1", "distributed==2026.7.1"]
# Both pull in more (llvmlite, scipy, joblib, threadpoolctl).
EXTRA_PACKAGES = ["numba==0.68.1", "scikit-learn==1.9.1"]
IMPORT_EXTRAS = "import numba, sklearn; print(numba.__version__, sklearn.__version__)"
CLIENT_PYTHON = ROOT / "build" / "client-venv" / "bin" / "python"


def operator_run(*args, timeout):
    """build/client-venv's Python as the operator (the cluster's versions, and its client
    certificate through DASK_CONFIG), run to its end: the completed process."""
    return subprocess.run([str(CLIENT_PYTHON), *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, DASK_CONFIG=str(OPERATOR)))


def operator_start(*args, stderr=subprocess.PIPE):
    """The same Python left running, talked to through its stdin and stdout: a client held
    while a playbook runs."""
    return subprocess.Popen([str(CLIENT_PYTHON), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=dict(os.environ, DASK_CONFIG=str(OPERATOR)))


def role_pins():
    return yaml.safe_load((ROOT / "roles" / "dask_env" / "defaults" / "main.yml").read_text())["dask_env_packages"]


def previous_release_vars():
    """Extra vars that deploy PREVIOUS_PINS in place of the role's pins of those packages, and
    EXTRA_PACKAGES. build/client-venv stays on the role's pins: the version monitor runs from
    it throughout."""
    names = {pin.split("==")[0] for pin in PREVIOUS_PINS}
    pins = PREVIOUS_PINS + [pin for pin in role_pins() if pin.split("==")[0] not in names]
    return json.dumps({"dask_env_packages": pins, "dask_env_extra_packages": EXTRA_PACKAGES,
                       "dask_env_controller_env": ""})


def imports_in_every_node(code):
    """{container: (returncode, output)} of python -c code in each node's Dask environment."""
    results = {}
    for container in cluster_containers():
        run = in_container(container, "/opt/dask/env/bin/python", "-c", code)
        results[container] = (run.returncode, run.stdout.strip())
    return results


def workloads_on_every_worker():
    """tests/integration/workloads.py from this machine: {worker: {workload: outcome}}."""
    workers = sorted(name for name in cluster_containers() if "-worker-" in name)
    run = operator_run(str(Path(__file__).parent / "workloads.py"), *workers, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def smoke_test_with_one_package_missing_on_a_worker():
    """The walkthrough from the client container after one locked package is uninstalled on
    worker-1: what it reports of the versions, and the version the client has."""
    locked = in_container(f"{CLUSTER}-client-1", "/opt/dask/env/bin/python", "-c",
                          "import importlib.metadata as m; print(m.version('threadpoolctl'))").stdout.strip()
    removed = in_container(f"{CLUSTER}-worker-1", "/opt/dask/env/bin/pip", "uninstall", "-y", "-q", "threadpoolctl")
    assert removed.returncode == 0, removed.stderr
    run = in_container(f"{CLUSTER}-client-1", "/usr/local/bin/dask-smoke-test")
    return run.returncode, json.loads(run.stdout.strip().splitlines()[-1]), locked, locked_packages()


def locked_packages():
    lock = ROOT / "inventory" / "local" / ".dask-env" / CLUSTER / "requirements.lock"
    return [line.split("==")[0] for line in lock.read_text().splitlines() if line and not line.startswith("#")]


def upgrade_watched():
    """playbooks/upgrade.yml, while scripts/version_monitor.py samples the versions computing together."""
    monitor = operator_start(str(ROOT / "scripts" / "version_monitor.py"), stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # a few samples of the old cluster first
        result, seconds = ansible_playbook("playbooks/upgrade.yml")
        (ROOT / "build" / "it-upgrade.log").write_text(result.stdout)
        time.sleep(3)
    finally:
        output = monitor.communicate(timeout=60)[0]  # closes its stdin: it stops
    samples = [json.loads(line) for line in output.splitlines()]
    return result, seconds, samples


def image_digest(image):
    return docker_lines("image", "inspect", "-f", "{{index .Config.Labels \"dask.image.digest\"}}", image)[0]


def baked_images():
    """{image: digest} of the node images this test's cluster baked (playbooks/image.yml)."""
    lines = docker_lines("image", "ls", "--filter", f"label=dask.image.baked-by={CLUSTER}",
                         "--format", "{{.Repository}}:{{.Tag}}")
    return {image: image_digest(image) for image in lines}


def node_images():
    """{container: the image it was made from} of the cluster's containers."""
    return {name: docker_lines("inspect", "-f", "{{.Config.Image}}", name)[0] for name in cluster_containers()}


@pytest.fixture(scope="module")
def cluster():
    """The cluster every test here works on: baked and run on the previous release, its
    workloads and the smoke test with a package missing, then upgraded. Torn down whatever
    happens."""
    ansible_playbook("playbooks/teardown.yml", "-e", "dask_image_prune=true")  # leftovers of an interrupted run
    try:
        # As scripts/cluster up does: bake the image of this run's environment, then site.yml.
        bake, bake_seconds = ansible_playbook("playbooks/image.yml", "-e", previous_release_vars())
        print(f"\nimage.yml, bake (Dask {PREVIOUS_PINS[-1]}): {bake_seconds:.0f} s")
        assert bake.returncode == 0, failure_report(bake)
        baked = baked_images()
        result, seconds = ansible_playbook("site.yml", "-e", previous_release_vars())
        print(f"local site.yml, cold from the baked image (Dask {PREVIOUS_PINS[-1]}): {seconds:.0f} s")
        assert result.returncode == 0, failure_report(result)
        first_images = node_images()
        extras_before_upgrade = imports_in_every_node(IMPORT_EXTRAS)
        workloads = workloads_on_every_worker()
        drift = smoke_test_with_one_package_missing_on_a_worker()
        upgrade, upgrade_seconds, samples = upgrade_watched()
        print(f"upgrade.yml: {upgrade_seconds:.0f} s")
        yield {"first_run": result, "first_seconds": seconds, "upgrade": upgrade, "version_samples": samples,
               "extras_before_upgrade": extras_before_upgrade, "workloads": workloads, "drift": drift,
               "bake": bake, "baked": baked, "first_images": first_images}
    finally:
        teardown, _ = ansible_playbook("playbooks/teardown.yml", "-e", "dask_image_prune=true")
    assert teardown.returncode == 0, failure_report(teardown)


def test_bad_input_on_a_fresh_run_creates_nothing():
    """Refused before the network or any container of the new cluster exists."""
    name = "dask-it-refused"
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", DASK_CLUSTER_NAME=name)
    for extra, expected in [("dask_worker_nthreads=0", "dask_worker_nthreads"),
                            ("dask_worker_memory_limit=lots", "dask_worker_memory_limit")]:
        result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "inventory/local", "site.yml", "-e", extra],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode != 0 and expected in result.stdout, result.stdout[-3000:]
        assert local_clusters.cluster_containers(name) == []
        assert docker_lines("network", "ls", "--filter", f"name=^dask-{name}$", "--format", "{{.Name}}") == []


def running_cluster_state():
    """Each container's id, and each Dask unit's (MainPID, start time): what a refused run must leave."""
    units = {"scheduler": "dask-scheduler", "worker": "dask-worker"}
    state = {}
    for line in cluster_containers(fields="{{.Names}}={{.ID}}={{.Label \"dask.role\"}}={{.State}}"):
        name, container_id, role, running = line.split("=")
        state[name] = (container_id, running, unit_state(name, f"{units[role]}.service") if role in units else None)
    return state


# Each was found to change a running cluster before it was refused; now none may.
REFUSED_ON_A_RUNNING_CLUSTER = [
    ("site.yml", "dask_worker_count=x", "dask_worker_count"),
    ("site.yml", "dask_worker_count=-1", "dask_worker_count"),
    ("site.yml", "dask_worker_count=2.5", "dask_worker_count"),
    ("site.yml", "dask_worker_count=", "dask_worker_count"),
    ("site.yml", "dask_worker_count=0", "dask_worker_count"),
    ("site.yml", "dask_worker_count=10000", "dask_cluster_max_workers (500)"),
    ("site.yml", "dask_worker_nthreads=0", "dask_worker_nthreads"),
    ("site.yml", "dask_cluster_name=probe2", "DASK_CLUSTER_NAME=probe2"),
    ("site.yml", "dask_worker_cont=4", "Did you mean dask_worker_count"),
    ("playbooks/retire.yml", f"dask_retire_hosts={CLUSTER}-scheduler,{CLUSTER}-worker-1", "not in the group dask_workers"),
    ("playbooks/retire.yml", f"dask_retire_hosts={CLUSTER}-worker-1,{CLUSTER}-worker-9", f"{CLUSTER}-worker-9: no such host"),
    ("playbooks/retire.yml", "dask_retire_hosts=dask_workers", "names every worker"),
    ("playbooks/restart.yml", "dask_rolling_batch=2", "dask_rolling_batch must be less than the 2 hosts"),
    # A requirement pip cannot satisfy: refused on the controller, upgrade.yml stopping nothing.
    ("site.yml", '{"dask_env_extra_packages": ["scikit-lern==1.9.1"]}', "pip finds no scikit-lern==1.9.1"),
    ("playbooks/upgrade.yml", json.dumps({"dask_env_packages": ["distributed==2099.1.0"]}), "pip finds no distributed==2099.1.0"),
]


def test_bad_input_is_refused_before_the_running_cluster_changes(cluster):
    before = running_cluster_state()
    assert len(before) == 4 and all(running == "running" for _, running, _ in before.values()), before
    for playbook, extra, expected in REFUSED_ON_A_RUNNING_CLUSTER:
        result, _ = ansible_playbook(playbook, "-e", extra)
        assert result.returncode != 0, (extra, result.stdout[-3000:])
        assert expected in result.stdout, (extra, result.stdout[-3000:])
        assert running_cluster_state() == before, extra
    result, _ = ansible_playbook("site.yml", "--check")
    assert result.returncode != 0 and "--check is not supported" in result.stdout
    assert running_cluster_state() == before


def test_upgrade_moves_every_process_to_the_pins_and_never_mixes_versions(cluster):
    upgrade = cluster["upgrade"]
    assert upgrade.returncode == 0, failure_report(upgrade)
    assert "Stop the workers" in upgrade.stdout and "Check that every environment meets the pins" in upgrade.stdout
    pins = role_pins()
    previous = PREVIOUS_PINS[-1].split("==")[1]
    current = next(pin for pin in pins if pin.startswith("distributed==")).split("==")[1]
    samples = cluster["version_samples"]
    print(f"\nversion samples: {len(samples)}, down: {sum('down' in sample for sample in samples)}")
    up = [sample for sample in samples if "down" not in sample]
    seen = [{sample["scheduler"], *sample["workers"]} for sample in up]
    # The monitor saw the old cluster, then the new one, and never both at once.
    assert seen[0] == {previous} and seen[-1] == {current}, seen
    assert all(len(versions) == 1 for versions in seen), [s for s in up if len({s["scheduler"], *s["workers"]}) > 1]
    assert len(up[-1]["workers"]) == 2
    print(f"\nupgrade: compute paused {version_monitor.pause(samples, previous, current, 2):.0f} s ({previous} -> {current})")
    # The new environment was installed before anything stopped, while the old one computed.
    log = upgrade.stdout
    assert -1 < log.find("TASK [dask_env : Install the locked packages]") < log.find("TASK [Stop the workers]"), log[-6000:]


def env_in_use(container):
    return in_container(container, "readlink", "/opt/dask/env").stdout.strip()


def running_versions():
    """The distributed version of the scheduler and of each worker, seen from this machine."""
    code = ("import json; from distributed import Client; c = Client(timeout='30s'); v = c.get_versions();"
            "print(json.dumps([v['scheduler']['packages']['distributed'],"
            " sorted(w['packages']['distributed'] for w in v['workers'].values())]))")
    run = operator_run("-c", code, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


# Put in a .pth file, this line runs at the start of every Python of that environment, and
# makes its Dask services (bin/dask) exit at once, as a broken release would; other Pythons
# of it (pip, the health check) run as usual.
BROKEN_SERVICES = "import sys; sys.argv[0].endswith('/dask') and sys.exit(3)\n"


def test_an_upgrade_whose_workers_do_not_come_up_is_rolled_back(cluster):
    """upgrade.yml back to the previous release, whose environment each node kept beside the one
    in use, after that environment's services were broken on worker-2: it does not join, so every
    node goes back to the environment it ran, and the run fails saying which worker was missing."""
    worker = f"{CLUSTER}-worker-2"
    in_use = {name: env_in_use(name) for name in cluster_containers()}
    built = [f"/opt/dask/envs/{name}" for name in in_container(worker, "ls", "/opt/dask/envs").stdout.split()]
    kept = [path for path in built if path != in_use[worker]]
    assert len(kept) == 1, (kept, in_use)
    site_packages = in_container(worker, f"{kept[0]}/bin/python", "-c",
                                 "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip()
    broken = in_container(worker, "sh", "-c", f"printf %s \"$0\" > {site_packages}/zz-broken-services.pth",
                          BROKEN_SERVICES)
    assert broken.returncode == 0, broken.stderr
    try:
        result, seconds = ansible_playbook("playbooks/upgrade.yml", "-e", previous_release_vars(),
                                           "-e", "dask_worker_health_timeout=40")
    finally:
        in_container(worker, "rm", "-f", f"{site_packages}/zz-broken-services.pth")
    (ROOT / "build" / "it-upgrade-rollback.log").write_text(result.stdout)
    print(f"\nupgrade.yml rolled back: {seconds:.0f} s")
    assert result.returncode != 0, result.stdout[-6000:]
    assert f"missing: {worker}" in result.stdout and "every node is back on the environment it ran before" \
        in result.stdout, result.stdout[-6000:]
    assert "TASK [Switch back to the environment each node ran before]" in result.stdout
    # Every node runs the environment it ran before, and the one that failed stays beside it.
    assert {name: env_in_use(name) for name in cluster_containers()} == in_use
    current = next(pin for pin in role_pins() if pin.startswith("distributed==")).split("==")[1]
    assert running_versions() == [current, [current, current]]
    assert in_container(worker, "test", "-x", f"{kept[0]}/bin/dask").returncode == 0


INSTALL_TASKS = ("base : Install the base packages", "ssh_keys : Install the SSH server and client",
                 "dask_env : Install the locked packages")


def test_the_cold_run_starts_every_node_from_the_baked_image_which_installs_nothing(cluster):
    assert cluster["bake"].returncode == 0 and "Commit the builder as the image" in cluster["bake"].stdout
    assert len(cluster["baked"]) == 1, cluster["baked"]
    [(image, digest)] = cluster["baked"].items()
    assert len(digest) == 64 and image.endswith(digest[:16])
    assert set(cluster["first_images"].values()) == {image} and len(cluster["first_images"]) == 4
    # The builder is gone, and the nodes installed nothing: it is all in the image.
    assert f"{CLUSTER}-image-builder" not in docker_lines("ps", "-a", "--format", "{{.Names}}")
    installs = {host: [task for task in tasks if task in INSTALL_TASKS]
                for host, tasks in changed_tasks(cluster["first_run"].stdout).items()}
    assert all(tasks == [] for tasks in installs.values()), installs
    # Nothing that must be a machine's own came with the image.
    host_keys = {node: in_container(node, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
                 for node in cluster["first_images"]}
    machine_ids = {node: in_container(node, "cat", "/etc/machine-id").stdout.strip() for node in cluster["first_images"]}
    assert len(set(host_keys.values())) == 4 and len(set(machine_ids.values())) == 4, (host_keys, machine_ids)


def test_first_run_configured_every_role(cluster):
    hosts = recap(cluster["first_run"].stdout)
    assert set(hosts) == {"localhost", f"{CLUSTER}-scheduler", f"{CLUSTER}-worker-1", f"{CLUSTER}-worker-2",
                          f"{CLUSTER}-client-1"}
    assert all(counts["failed"] == 0 and counts["unreachable"] == 0 for counts in hosts.values())


def test_containers_carry_the_labels_and_publish_on_loopback_only(cluster):
    roles = dict(
        line.split("=", 1)
        for line in docker_lines("ps", "--filter", f"label=dask.cluster={CLUSTER}",
                                 "--format", "{{.Names}}={{.Label \"dask.role\"}}")
    )
    assert roles == {f"{CLUSTER}-scheduler": "scheduler", f"{CLUSTER}-worker-1": "worker",
                     f"{CLUSTER}-worker-2": "worker", f"{CLUSTER}-client-1": "client"}
    ports = subprocess.run(["docker", "port", f"{CLUSTER}-scheduler"], capture_output=True, text=True,
                           check=True).stdout.split("\n")
    bindings = sorted(line for line in ports if line)
    assert bindings == ["8786/tcp -> 127.0.0.1:8786", "8787/tcp -> 127.0.0.1:8787"]
    assert subprocess.run(["docker", "port", f"{CLUSTER}-worker-1"], capture_output=True, text=True).stdout.strip() == ""
    # The first client publishes JupyterLab (dask_client_jupyter is on in inventory/local).
    client = subprocess.run(["docker", "port", f"{CLUSTER}-client-1"], capture_output=True, text=True, check=True)
    assert client.stdout.strip() == "8888/tcp -> 127.0.0.1:8888"


def test_walkthrough_from_the_client_container(cluster):
    result = subprocess.run(["docker", "exec", f"{CLUSTER}-client-1", "bash", "-lc", "dask-smoke-test --restart"],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["total"] == -285
    assert report["workers"] == 2
    assert [name for name, ok in report["checks"].items() if not ok] == []
    assert result.returncode == 0


def test_walkthrough_from_this_machine_through_loopback(cluster):
    script = ROOT / "roles" / "dask_client" / "files" / "dask_smoke_test.py"
    # The operator's configuration made by the dask_tls role: address, CA, client certificate.
    assert (OPERATOR / "dask.yaml").exists()
    assert oct((OPERATOR / "client-key.pem").stat().st_mode & 0o777) == "0o600"
    result = operator_run(str(script), "--restart", timeout=300)
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["total"] == -285
    assert report["scheduler"] == "tls://127.0.0.1:8786"
    assert [name for name, ok in report["checks"].items() if not ok] == []
    assert result.returncode == 0


def test_dashboard_renders_in_headless_chromium_without_errors(cluster, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    with browser.chromium(OPERATOR.parent / "ca.pem", tmp_path) as driver:
        driver.get("https://127.0.0.1:8787/status")
        # Bokeh has rendered when canvases exist; Bokeh 3 draws them inside shadow roots.
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(CANVASES_IN_SHADOW_DOM) > 0)
        time.sleep(2)  # let the periodic updates run once
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        errors, title = browser.console_errors(driver), driver.title
    assert errors == []
    assert "Dask" in title
    assert SCREENSHOT.stat().st_size > 10_000


JUPYTER_URL = "https://127.0.0.1:8888"
JUPYTER_TOKEN = OPERATOR.parent / "jupyter-token"
JUPYTER_SCREENSHOT = ROOT / "build" / "jupyter-lab.png"


def test_jupyter_refuses_requests_without_its_token_and_answers_with_it(cluster):
    ca, token = OPERATOR.parent / "ca.pem", jupyter_checks.read_token(JUPYTER_TOKEN)
    assert oct(JUPYTER_TOKEN.stat().st_mode & 0o777) == "0o600"
    assert jupyter_checks.api_status(JUPYTER_URL, ca)[0] in (401, 403)
    assert jupyter_checks.api_status(JUPYTER_URL, ca, token="not-the-token")[0] in (401, 403)
    status, body = jupyter_checks.api_status(JUPYTER_URL, ca, token=token)
    assert status == 200 and "started" in body
    # The token reaches the server through a file only: not in the unit, nor in any argument,
    # nor in what the run that made it printed.
    assert token not in cluster["first_run"].stdout + cluster["first_run"].stderr
    client = f"{CLUSTER}-client-1"
    assert token not in in_container(client, "systemctl", "cat", "dask-jupyter.service").stdout
    assert token not in in_container(client, "ps", "-eo", "args").stdout
    assert in_container(client, "stat", "-c", "%U:%G %a", "/etc/dask/jupyter/token").stdout.split() == ["root:dask", "640"]


def test_jupyterlab_opens_in_headless_chromium_without_errors(cluster, tmp_path):
    url = f"{JUPYTER_URL}/lab?token={jupyter_checks.read_token(JUPYTER_TOKEN)}"
    errors, panes, title = jupyter_checks.open_lab_in_chromium(url, OPERATOR.parent / "ca.pem", JUPYTER_SCREENSHOT,
                                                               tmp_path)
    assert errors == []
    assert "JupyterLab" in title
    # dask-labextension found the scheduler's dashboard at its default URL.
    assert "Task Stream" in panes, panes
    assert JUPYTER_SCREENSHOT.stat().st_size > 10_000


def test_a_notebook_in_jupyter_computes_on_the_cluster(cluster):
    """Cells run by a kernel of the service itself (its sandbox, its account): Client() with no
    arguments is this cluster, and a dask.array sum runs on its workers."""
    result = jupyter_checks.run_cells(CLIENT_PYTHON, JUPYTER_URL, OPERATOR.parent / "ca.pem", JUPYTER_TOKEN, [
        "from distributed import Client\nimport dask.array as da\nclient = Client()",
        "print(da.ones((2000, 2000), chunks=(500, 500)).sum().compute())",
        "print(len(client.scheduler_info()['workers']), client.submit(lambda: __import__('socket').gethostname()).result())",
    ])
    assert result["errors"] == []
    total, summary = result["outputs"][0].strip(), result["outputs"][1].split()
    assert total == "4000000.0"
    assert summary[0] == "2" and "-worker-" in summary[1], summary


def test_extra_packages_reach_every_node_run_in_the_worker_service_and_go_when_removed(cluster):
    """The cold run added EXTRA_PACKAGES; the upgrade to the role's pins, which lack them, removed them."""
    assert set(cluster["extras_before_upgrade"].values()) == {(0, "0.68.1 1.9.1")}, cluster["extras_before_upgrade"]
    assert len(cluster["extras_before_upgrade"]) == 4
    report = cluster["workloads"]
    failed = {(worker, name): outcome["error"] for worker, outcomes in report.items()
              for name, outcome in outcomes.items() if not outcome["ok"]}
    assert sorted(report) == [f"{CLUSTER}-worker-1", f"{CLUSTER}-worker-2"] and failed == {}, failed
    assert {outcomes["numba_njit"]["value"] for outcomes in report.values()} == {499500.0}
    gone = imports_in_every_node("import importlib.util as u; print([m for m in ('numba', 'sklearn', 'scipy', 'llvmlite')"
                                 " if u.find_spec(m)])")
    assert set(gone.values()) == {(0, "[]")}, gone


def test_the_walkthrough_names_the_package_and_the_worker_that_differ(cluster):
    rc, report, locked, lock = cluster["drift"]
    assert rc == 1 and report["checks"]["versions_match"] is False and locked
    assert report["version_mismatches"] == [f"worker {CLUSTER}-worker-1: threadpoolctl missing (client: {locked})"], report
    # Every locked package, and Python.
    assert report["packages_compared"] == len(lock) + 1 and "threadpoolctl" in lock, (report, lock)


def test_this_machines_client_follows_the_lock_with_extras_and_without(cluster):
    def python_in_client_venv(code):
        run = subprocess.run([str(CLIENT_PYTHON), "-c", code], capture_output=True, text=True)
        return run.returncode, run.stdout.strip()

    added, _ = ansible_playbook("playbooks/environment.yml", "-e", json.dumps({"dask_env_extra_packages": EXTRA_PACKAGES}))
    assert added.returncode == 0, failure_report(added)
    assert python_in_client_venv(IMPORT_EXTRAS) == (0, "0.68.1 1.9.1")
    removed, _ = ansible_playbook("playbooks/environment.yml")
    assert removed.returncode == 0, failure_report(removed)
    assert python_in_client_venv("import importlib.util as u; print(u.find_spec('numba'), u.find_spec('scipy'))") == (0, "None None")


def test_second_run_changes_nothing(cluster):
    # Given on the command line, numbers and booleans are strings; these are the values the
    # inventory already has, so nothing may change (a "false" read as true would).
    result, seconds = ansible_playbook("site.yml", "-e", "dask_cluster_scheduler_port=8786", "-e", "dask_worker_count=2",
                                       "-e", "dask_cluster_tls_enabled=true", "-e", "base_time_sync_enabled=false",
                                       "-e", "base_sysctl_apply=false", "-e", "dask_env_pip_no_index=false")
    print(f"\nlocal site.yml, second run: {seconds:.0f} s")
    assert result.returncode == 0, failure_report(result)
    changed = {host: counts["changed"] for host, counts in recap(result.stdout).items()}
    assert set(changed.values()) == {0}, changed_tasks(result.stdout)
    # Every node holds what it was configured with: none is configured again.
    assert configured_nodes(result.stdout) == [], result.stdout[-6000:]


def configured_nodes(output):
    return sorted(host for host, tasks in run_tasks(output).items() if CONFIGURE_TASK in tasks)


CONFIGURE_TASK = "dask_cluster : Put the nodes this run configures in the group _dask_configure"


def test_drift_on_a_node_has_that_node_configured_again_which_puts_it_back(cluster):
    """A deleted unit, an edited file, a stopped service: site.yml configures the nodes that
    drifted, and only those, saying what changed, and puts each back."""
    worker_1, worker_2, client = f"{CLUSTER}-worker-1", f"{CLUSTER}-worker-2", f"{CLUSTER}-client-1"
    tls_yaml = in_container(worker_2, "cat", "/etc/dask/tls.yaml").stdout
    assert in_container(worker_1, "rm", "/etc/systemd/system/dask-worker.service").returncode == 0
    assert in_container(worker_2, "sh", "-c", "echo '# edited' >> /etc/dask/tls.yaml").returncode == 0
    assert in_container(client, "systemctl", "stop", "dask-jupyter.service").returncode == 0
    result, seconds = ansible_playbook("site.yml")
    print(f"\nsite.yml putting back drift on 3 nodes: {seconds:.0f} s")
    assert result.returncode == 0, failure_report(result)
    assert configured_nodes(result.stdout) == sorted([worker_1, worker_2, client]), result.stdout[-6000:]
    assert f"{worker_1} is configured again: changed since: " in result.stdout
    assert "/etc/systemd/system/dask-worker.service" in result.stdout and "unit:dask-worker.service" in result.stdout
    assert f"{worker_2} is configured again: changed since: /etc/dask/tls.yaml" in result.stdout
    assert f"{client} is configured again: changed since: unit:dask-jupyter.service" in result.stdout
    assert in_container(worker_1, "systemctl", "is-active", "dask-worker.service").stdout.strip() == "active"
    assert in_container(worker_2, "cat", "/etc/dask/tls.yaml").stdout == tls_yaml
    assert in_container(client, "systemctl", "is-active", "dask-jupyter.service").stdout.strip() == "active"


def node_certificate_serials():
    serials = {}
    for container in cluster_containers():
        pem = subprocess.run(["docker", "exec", container, "cat", "/etc/dask/tls/node.pem"],
                             capture_output=True, text=True, check=True).stdout
        serials[container] = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem,
                                            capture_output=True, text=True, check=True).stdout.strip()
    return serials


def test_certificate_rotation_reissues_everything_and_the_cluster_keeps_working(cluster):
    before = node_certificate_serials()
    operator_before = (OPERATOR / "client.pem").read_text()
    result, seconds = ansible_playbook("playbooks/rotate-certificates.yml")
    print(f"\ncertificate rotation: {seconds:.0f} s")
    assert result.returncode == 0, failure_report(result)
    after = node_certificate_serials()
    assert sorted(after) == sorted(before) and len(after) == 4
    assert all(after[node] != before[node] for node in before), (before, after)
    assert (OPERATOR / "client.pem").read_text() != operator_before
    # verify.yml ran at the end (walkthrough + every worker connected); the operator's
    # renewed certificate works from this machine too.
    assert "Check that every worker is connected" in result.stdout
    count = operator_run("-c", "from distributed import Client; print(len(Client(timeout='30s').scheduler_info()['workers']))",
                         timeout=120)
    assert count.stdout.strip().splitlines()[-1] == "2", count.stderr[-2000:]


def unit_state(container, unit):
    """(MainPID, ActiveEnterTimestampMonotonic) of a unit: both change when it restarts."""
    out = subprocess.run(["docker", "exec", container, "systemctl", "show", unit, "-p", "MainPID",
                          "-p", "ActiveEnterTimestampMonotonic"], capture_output=True, text=True, check=True).stdout
    return tuple(sorted(out.split()))


PROMETHEUS_DIR = ROOT / "build" / "prometheus-it"


def scraped_prometheus_targets():
    """{role: {target: answers}} from the file_sd targets that dask_prometheus wrote, each
    target's /metrics fetched over HTTPS with the cluster CA, as Prometheus would."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=str(OPERATOR.parent / "ca.pem"))
    scraped = {}
    for group in json.loads((PROMETHEUS_DIR / f"{CLUSTER}.json").read_text()):
        assert group["labels"]["cluster"] == CLUSTER
        for target in group["targets"]:
            with urllib.request.urlopen(f"https://{target}/metrics", context=context, timeout=10) as response:
                body = response.read().decode()
            scraped.setdefault(group["labels"]["role"], {})[target] = (
                f"dask_{group['labels']['role']}_" in body and response.status == 200)
    return scraped


# A setting of the clients only, given with the scale-up: the client is configured again, the
# scheduler and the workers are not (their settings did not change).
CLIENT_TIMEOUT = {"dask_client_config": {"distributed": {"comm": {"timeouts": {"connect": "45s"}}}}}
# A second pool of workers beside the default one, which the scale-up adds.
BIG_POOL = {"dask_worker_pools": {"big": {"count": 1, "nthreads": 1, "resources": {"BIG": 1}}}}
# From this machine: each worker's pool, threads and resources as the scheduler sees them,
# and where tasks that ask for the pool's resource run (a pandas groupby each).
POOL_TASKS = """
import json
from distributed import Client, get_worker
client = Client(timeout="30s")
seen = {w["name"]: {"pool": w.get("pool"), "nthreads": w["nthreads"], "resources": w["resources"]}
        for w in client.scheduler_info()["workers"].values()}
def group_means(seed):
    import numpy as np, pandas as pd
    frame = pd.DataFrame(np.random.default_rng(seed).random((10_000, 2)), columns=["key", "value"])
    return get_worker().name, frame.groupby((frame.key * 4).astype(int)).value.mean().round(2).tolist()
ran = client.gather([client.submit(group_means, seed, resources={"BIG": 1}, pure=False) for seed in range(8)])
print(json.dumps({"workers": seen, "ran_on": sorted({name for name, _ in ran}), "means": [means for _, means in ran]}))
"""
# One task of each configuring role (the checks of validate.yml carry the roles' names too).
CONFIGURING_TASKS = ("base : Raise the open files limit for login sessions", "ssh_keys : Harden sshd",
                     "dask_env : Write the system Dask configuration", "dask_tls : Require TLS in every Dask process on the node",
                     "dask_cluster : Install the unit of dask-scheduler", "dask_cluster : Install the unit of dask-worker")


def test_scaling_up_configures_the_new_workers_and_the_changed_client_only(cluster):
    """dask_worker_count 2 -> 3 and a new pool 'big' of one worker (1 thread, resource BIG)."""
    services = {f"{CLUSTER}-scheduler": "dask-scheduler", f"{CLUSTER}-worker-1": "dask-worker",
                f"{CLUSTER}-worker-2": "dask-worker"}
    before = {node: unit_state(node, unit) for node, unit in services.items()}
    images_before = node_images()
    # The cluster now runs the role's pins: the image baked for the older ones is not theirs,
    # so image.yml bakes another (scripts/cluster up runs it first, too), unless a cluster
    # with the same environment baked it already (in scripts/test, test_local_cloud_idle.py's).
    bake, bake_seconds = ansible_playbook("playbooks/image.yml")
    print(f"\nimage.yml for the role's pins: {bake_seconds:.0f} s")
    assert bake.returncode == 0, failure_report(bake)
    result, seconds = ansible_playbook("site.yml", "-e", "dask_worker_count=3", "-e", json.dumps(CLIENT_TIMEOUT),
                                       "-e", json.dumps(BIG_POOL), "-e", f"dask_prometheus_file_sd_dir={PROMETHEUS_DIR}")
    print(f"scale up 2 -> 3 workers and a pool of 1: {seconds:.0f} s")
    assert result.returncode == 0, failure_report(result)
    changed = changed_tasks(result.stdout)
    new_workers = [f"{CLUSTER}-worker-3", f"{CLUSTER}-big-1"]
    assert all(changed[worker] for worker in new_workers), changed
    # The new workers come from the image of the new pins and install nothing; the others
    # keep theirs.
    images = node_images()
    new_images = {images.pop(worker) for worker in new_workers}
    assert images == images_before
    assert len(new_images) == 1, new_images
    new_image = new_images.pop()
    assert len(image_digest(new_image)) == 64 and image_digest(new_image) not in cluster["baked"].values(), new_image
    assert [task for worker in new_workers for task in changed[worker] if task in INSTALL_TASKS] == []
    # The scheduler and the old workers ran no configuring role at all; the client ran them
    # all (its setting changed), and changed its client configuration and its list of trusted
    # SSH host keys (it gained the new worker's). Services keep running as they were.
    ran = run_tasks(result.stdout)
    configuring = {host: [task for task in ran[host] if task in CONFIGURING_TASKS] for host in services}
    assert configuring == {host: [] for host in services}, configuring
    assert [task for task in ran[f"{CLUSTER}-client-1"] if task in CONFIGURING_TASKS] == list(CONFIGURING_TASKS[:4])
    assert {host: tasks for host, tasks in changed.items() if host not in ["localhost", *new_workers]} == {
        f"{CLUSTER}-client-1": ["ssh_keys : Trust the cluster's host keys on client nodes",
                                "dask_client : Point clients at the cluster's scheduler",
                                "dask_cluster : Record what this node is configured from"]}, changed
    assert "45s" in in_container(f"{CLUSTER}-client-1", "cat", "/etc/dask/client.yaml").stdout
    assert {node: unit_state(node, unit) for node, unit in services.items()} == before
    assert "Check that every worker is connected" in result.stdout  # verify.yml counted 4
    # The Prometheus targets follow: the scheduler and 4 workers, each serving Dask metrics.
    scraped = scraped_prometheus_targets()
    assert len(scraped["scheduler"]) == 1 and len(scraped["worker"]) == 4, scraped
    assert all(ok for targets in scraped.values() for ok in targets.values()), scraped
    # The pool's worker carries its label, the scheduler sees its pool, its thread and its
    # resource, and the tasks that ask for BIG run there (and nowhere else).
    assert docker_lines("inspect", "-f", "{{index .Config.Labels \"dask.pool\"}}", f"{CLUSTER}-big-1") == ["big"]
    run = operator_run("-c", POOL_TASKS, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    pools = json.loads(run.stdout.strip().splitlines()[-1])
    assert pools["workers"][f"{CLUSTER}-big-1"] == {"pool": "big", "nthreads": 1, "resources": {"BIG": 1}}, pools
    assert {name: worker["pool"] for name, worker in pools["workers"].items() if name != f"{CLUSTER}-big-1"} == {
        f"{CLUSTER}-worker-{n}": "default" for n in (1, 2, 3)}, pools
    assert pools["ran_on"] == [f"{CLUSTER}-big-1"] and len(pools["means"]) == 8 and all(len(m) == 4 for m in pools["means"])


HOLDER = """
import json, random, sys
from distributed import Client
client = Client(timeout="30s")
leaving = [a for a, w in client.scheduler_info()["workers"].items() if w["name"] == sys.argv[1]]
futures = [client.submit(random.random, pure=False, workers=leaving) for _ in range(20)]
values = client.gather(futures)
print(json.dumps({"on_leaving": len(client.who_has(futures)) and all(
    leaving[0] in holders for holders in client.who_has(futures).values()), "values": values}), flush=True)
sys.stdin.readline()  # the scale-down runs meanwhile
holders = client.who_has(futures)
print(json.dumps({"values": client.gather(futures), "holders": sorted({h for hs in holders.values() for h in hs}),
                  "leaving": leaving[0]}), flush=True)
"""


def test_scaling_down_retires_the_leaving_workers_and_keeps_their_results(cluster):
    """dask_worker_count 3 -> 2, and the pool 'big' gone: worker-3 and big-1 retire and go."""
    leaving = f"{CLUSTER}-worker-3"
    # Drift on the client: the run configures it again, which puts it back.
    in_container(f"{CLUSTER}-client-1", "rm", "/usr/local/bin/dask-smoke-test")
    holder = operator_start("-c", HOLDER, leaving)
    try:
        held = json.loads(holder.stdout.readline())
        assert held["on_leaving"], held  # 20 random numbers, held only by worker-3
        result, seconds = ansible_playbook("site.yml", "-e", "dask_worker_count=2",
                                           "-e", f"dask_prometheus_file_sd_dir={PROMETHEUS_DIR}")
        print(f"\nscale down 3 -> 2 workers, the pool removed: {seconds:.0f} s")
        holder.stdin.write("\n")
        holder.stdin.flush()
        after = json.loads(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, failure_report(result)
    assert "Retire the batch's workers through the scheduler" in result.stdout
    assert leaving not in cluster_containers() and f"{CLUSTER}-big-1" not in cluster_containers()
    assert "Stop the worker service and keep it from starting again" in changed_tasks(result.stdout)[f"{CLUSTER}-big-1"]
    # Moved, not recomputed: a recomputed random() would give other numbers.
    assert after["values"] == held["values"]
    assert after["leaving"] not in after["holders"] and after["holders"], after
    changed = changed_tasks(result.stdout)
    assert not changed.get(f"{CLUSTER}-worker-1") and not changed.get(f"{CLUSTER}-worker-2"), changed
    scraped = scraped_prometheus_targets()
    assert len(scraped["worker"]) == 2 and all(scraped["worker"].values()), scraped
    # The client is back to the inventory's settings, its deleted script put back.
    assert "dask_client : Install dask-smoke-test" in changed[f"{CLUSTER}-client-1"], changed
    assert in_container(f"{CLUSTER}-client-1", "test", "-x", "/usr/local/bin/dask-smoke-test").returncode == 0
    assert "45s" not in in_container(f"{CLUSTER}-client-1", "cat", "/etc/dask/client.yaml").stdout


def test_teardown_removes_everything_and_is_idempotent(cluster):
    assert baked_images()
    result, _ = ansible_playbook("playbooks/teardown.yml", "-e", "dask_image_prune=true")
    assert result.returncode == 0, failure_report(result)
    assert cluster_containers() == []
    assert cluster_networks() == []
    assert baked_images() == {}
    result, _ = ansible_playbook("playbooks/teardown.yml", "-e", "dask_image_prune=true")
    assert result.returncode == 0
    assert recap(result.stdout)["localhost"]["changed"] == 0
