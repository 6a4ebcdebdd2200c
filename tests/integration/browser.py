"""A headless Chromium that trusts the cluster CA, for the dashboard and JupyterLab tests.

Chromium reads its trust from $HOME/.pki/nssdb: here a temporary HOME under workdir, so the
CA is trusted by this browser only, for this test only.
"""

import contextlib
import os
import subprocess
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1400,1000")


@contextlib.contextmanager
def chromium(ca_file, workdir):
    """A selenium driver of /usr/bin/chromium that trusts ca_file and logs the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    workdir = Path(workdir)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={workdir / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    nssdb = workdir / ".pki" / "nssdb"
    nssdb.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "cluster CA", "-t", "C,,", "-i", str(ca_file)],
                   check=True, capture_output=True)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver", env=dict(os.environ, HOME=str(workdir))),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver):
    """The SEVERE entries of the page's console so far."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
