"""What every node of the cluster must have: base OS settings, accounts, sshd, the env."""

testinfra_hosts = ["ansible://dask_scheduler", "ansible://dask_workers", "ansible://dask_clients"]


def test_dask_account_is_an_unprivileged_system_user(host):
    user = host.user("dask")
    assert user.group == "dask"
    assert user.uid < 1000
    assert user.shell in ("/usr/sbin/nologin", "/sbin/nologin")
    assert user.home == "/var/lib/dask"


def test_directories_have_the_right_owners_and_modes(host):
    home = host.file("/var/lib/dask")
    assert home.is_directory
    assert (home.user, home.group, home.mode) == ("dask", "dask", 0o750)
    config_dir = host.file("/etc/dask")
    assert (config_dir.user, config_dir.mode) == ("root", 0o755)
    config = host.file("/etc/dask/dask.yaml")
    assert (config.user, config.group, config.mode) == ("root", "root", 0o644)
    assert "connect: 60s" in config.content_string


def test_environment_has_the_pinned_dask(host):
    versions = host.check_output(
        "/opt/dask/env/bin/python -c 'import dask, distributed; print(dask.__version__, distributed.__version__)'"
    )
    assert versions == "2026.8.0 2026.8.0"
    env = host.file("/opt/dask/env/bin/python")
    assert env.user == "root"


def test_sysctls_and_limits_are_written(host):
    sysctls = host.file("/etc/sysctl.d/60-dask.conf").content_string
    assert "net.core.somaxconn=4096" in sysctls.replace(" ", "")
    limits = host.file("/etc/security/limits.d/60-dask.conf")
    assert limits.mode == 0o644
    assert "nofile 65536" in " ".join(limits.content_string.split())


def test_sshd_refuses_passwords(host):
    assert host.service("ssh").is_running
    effective = host.check_output("/usr/sbin/sshd -T")
    settings = dict(line.split(" ", 1) for line in effective.splitlines() if " " in line)
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["permitrootlogin"] in ("without-password", "prohibit-password")
    hardening = host.file("/etc/ssh/sshd_config.d/10-dask-hardening.conf")
    assert (hardening.user, hardening.mode) == ("root", 0o644)
