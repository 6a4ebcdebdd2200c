"""Worker nodes: dask-worker.service as dask, restarted always, connected to the scheduler."""

from conftest import unit_main_pid_user

testinfra_hosts = ["ansible://dask_workers"]


def test_worker_service_is_enabled_and_running(host):
    service = host.service("dask-worker")
    assert service.is_enabled
    assert service.is_running


def test_worker_processes_run_as_dask_not_root(host):
    assert unit_main_pid_user(host, "dask-worker") == "dask"
    users = set(host.check_output("ps -o user= --ppid $(systemctl show -p MainPID --value dask-worker)").split())
    assert users <= {"dask"}, f"worker children run as {users}"
    root_dask = host.run("ps -u root -o args= | grep -c '[/]opt/dask/env/bin'")
    assert root_dask.stdout.strip() == "0", "a Dask process runs as root"


def test_worker_dashboard_listens_and_is_healthy(host):
    assert host.socket("tcp://0.0.0.0:8789").is_listening or host.socket("tcp://:::8789").is_listening
    assert host.check_output("curl -fsS http://127.0.0.1:8789/health") == "ok"


def test_worker_restarts_always_after_a_pause(host):
    shown = host.check_output("systemctl show dask-worker -p Restart -p RestartUSec -p User -p NoNewPrivileges")
    assert "Restart=always" in shown
    assert "RestartUSec=5s" in shown
    assert "User=dask" in shown
    assert "NoNewPrivileges=yes" in shown


def test_worker_local_directory(host):
    directory = host.file("/var/lib/dask/worker-space")
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("dask", "dask", 0o750)


def test_admin_authorized_keys_are_private(host):
    keys = host.file("/home/ubuntu/.ssh/authorized_keys")
    assert (keys.user, keys.mode) == ("ubuntu", 0o600)
    assert keys.content_string.startswith("ssh-ed25519 ")
