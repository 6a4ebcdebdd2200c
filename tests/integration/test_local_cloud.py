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
from pathlib import Path

import pytest

from playbook_output import recap

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
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


def ansible_playbook(*args):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "ansible-playbook"), "-i", "inventory/local", "-e", f"dask_cluster_name={CLUSTER}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    return result, time.monotonic() - started


def docker_lines(*args):
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True).stdout.split()


def cluster_containers():
    return docker_lines("ps", "-a", "--filter", f"label=dask.cluster={CLUSTER}", "--format", "{{.Names}}")


def cluster_networks():
    return docker_lines("network", "ls", "--filter", f"name=^dask-{CLUSTER}$", "--format", "{{.Name}}")


@pytest.fixture(scope="module")
def cluster():
    ansible_playbook("playbooks/teardown.yml")  # leftovers of an interrupted run
    result, seconds = ansible_playbook("site.yml")
    print(f"\nlocal site.yml, cold: {seconds:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    yield {"first_run": result, "first_seconds": seconds}
    result, _ = ansible_playbook("playbooks/teardown.yml")
    assert result.returncode == 0, result.stdout[-3000:]


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
    for worker in (f"{CLUSTER}-worker-1", f"{CLUSTER}-client-1"):
        assert subprocess.run(["docker", "port", worker], capture_output=True, text=True).stdout.strip() == ""


def test_walkthrough_from_the_client_container(cluster):
    result = subprocess.run(["docker", "exec", f"{CLUSTER}-client-1", "bash", "-lc", "dask-smoke-test"],
                            capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["total"] == -285
    assert report["workers"] == 2
    assert [name for name, ok in report["checks"].items() if not ok] == []
    assert result.returncode == 0


def test_walkthrough_from_this_machine_through_loopback(cluster):
    python = ROOT / "build" / "client-venv" / "bin" / "python"
    script = ROOT / "roles" / "dask_client" / "files" / "dask_smoke_test.py"
    # The operator's configuration made by the dask_tls role: address, CA, client certificate.
    assert (OPERATOR / "dask.yaml").exists()
    assert oct((OPERATOR / "client-key.pem").stat().st_mode & 0o777) == "0o600"
    env = dict(os.environ, DASK_CONFIG=str(OPERATOR))
    result = subprocess.run([str(python), str(script)], capture_output=True, text=True, timeout=300, env=env)
    assert result.stdout.strip(), result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["total"] == -285
    assert report["scheduler"] == "tls://127.0.0.1:8786"
    assert [name for name, ok in report["checks"].items() if not ok] == []
    assert result.returncode == 0


def test_dashboard_renders_in_headless_chromium_without_errors(cluster, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The dashboard is HTTPS with the cluster CA: this browser trusts that CA (and only for
    # this test: Chromium reads $HOME/.pki/nssdb, here a temporary HOME).
    nssdb = tmp_path / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "dask-it CA", "-t", "C,,",
                    "-i", str(OPERATOR.parent / "ca.pem")], check=True)
    service = Service("/usr/bin/chromedriver", env=dict(os.environ, HOME=str(tmp_path)))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get("https://127.0.0.1:8787/status")
        # Bokeh has rendered when canvases exist; Bokeh 3 draws them inside shadow roots.
        WebDriverWait(driver, 60).until(lambda d: d.execute_script(CANVASES_IN_SHADOW_DOM) > 0)
        time.sleep(2)  # let the periodic updates run once
        SCREENSHOT.parent.mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SCREENSHOT))
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        title = driver.title
    finally:
        driver.quit()
    assert errors == []
    assert "Dask" in title
    assert SCREENSHOT.stat().st_size > 10_000


def test_second_run_changes_nothing(cluster):
    result, seconds = ansible_playbook("site.yml")
    print(f"\nlocal site.yml, second run: {seconds:.0f} s")
    assert result.returncode == 0, result.stdout[-6000:]
    changed = {host: counts["changed"] for host, counts in recap(result.stdout).items()}
    assert set(changed.values()) == {0}, changed


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
    assert result.returncode == 0, result.stdout[-6000:]
    after = node_certificate_serials()
    assert sorted(after) == sorted(before) and len(after) == 4
    assert all(after[node] != before[node] for node in before), (before, after)
    assert (OPERATOR / "client.pem").read_text() != operator_before
    # verify.yml ran at the end (walkthrough + every worker connected); the operator's
    # renewed certificate works from this machine too.
    assert "Check that every worker is connected" in result.stdout
    python = ROOT / "build" / "client-venv" / "bin" / "python"
    count = subprocess.run(
        [str(python), "-c", "from distributed import Client; print(len(Client(timeout='30s').scheduler_info()['workers']))"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, DASK_CONFIG=str(OPERATOR)),
    )
    assert count.stdout.strip().splitlines()[-1] == "2", count.stderr[-2000:]


def test_teardown_removes_everything_and_is_idempotent(cluster):
    result, _ = ansible_playbook("playbooks/teardown.yml")
    assert result.returncode == 0, result.stdout[-3000:]
    assert cluster_containers() == []
    assert cluster_networks() == []
    result, _ = ansible_playbook("playbooks/teardown.yml")
    assert result.returncode == 0
    assert recap(result.stdout)["localhost"]["changed"] == 0
