"""Checks of the JupyterLab service of a client node (dask_client_jupyter), for
test_local_cloud.py: the REST API with and without the token, the lab page in a headless
Chromium that trusts the cluster CA, and code run by a kernel of the service itself.

Imported by the tests (standard library only at import). Run as a script with a Python
that has tornado (build/client-venv), it executes cells in a new kernel of the server
through the kernel websocket and prints one JSON line:

    python jupyter_checks.py BASE_URL CA_FILE TOKEN_FILE < cells.json
"""

import json
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

# JupyterLab has started when its shell exists; the Dask sidebar of dask-labextension lists
# the dashboard's panes once its server-side check of the default URL succeeded.
LAB_READY = "return document.querySelector('#jp-main-dock-panel') !== null"
DASK_PANES = "return Array.from(document.querySelectorAll('.dask-DashboardListing-item')).map(e => e.textContent.trim())"


def read_token(token_file):
    return Path(token_file).read_text().strip()


def api_status(base_url, ca_file, token=None, path="/api/status"):
    """The HTTP status of GET base_url + path, with the token as Authorization or without."""
    request = urllib.request.Request(base_url + path)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(ca_file)),
                                    timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


def open_lab_in_chromium(url, ca_file, screenshot, workdir, wait_for_panes=True, first_wait=60, reload_wait=90):
    """Open url (the lab with its token) in headless Chromium trusting ca_file; return
    (SEVERE console entries, the Dask panes listed, the page title)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    import browser

    def shell_within(driver, seconds):
        try:
            return WebDriverWait(driver, seconds).until(lambda d: d.execute_script(LAB_READY))
        except TimeoutException:
            return False

    def page_state(driver):
        text = driver.execute_script("return document.body ? document.body.innerText : ''") or ""
        return {"url": driver.current_url, "title": driver.title, "text": text[:300],
                "console errors": browser.console_errors(driver)}

    with browser.chromium(ca_file, workdir) as driver:
        driver.get(url)
        # The lab opens in seconds, but with both cores busy a first load has stalled for
        # over a minute while the server kept answering: reload once, saying so, and fail
        # with what the page showed if that does not help either.
        if not shell_within(driver, first_wait):
            stalled = page_state(driver)
            print(f"\nJupyterLab's shell did not appear within {first_wait} s, reloading; the page: {stalled}")
            driver.refresh()
            if not shell_within(driver, reload_wait):
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                driver.save_screenshot(str(screenshot))
                raise AssertionError(f"JupyterLab's shell did not appear, before the reload: {stalled}, "
                                     f"after it: {page_state(driver)} (screenshot: {screenshot})")
        panes = []
        if wait_for_panes:
            # The Dask sidebar lists the panes once the extension's check of the dashboard
            # answered and the sidebar is drawn: press its tab (again, if the saved layout had
            # it open and the press closed it) until they show.
            deadline = time.monotonic() + 60
            while not panes and time.monotonic() < deadline:
                driver.find_element(By.CSS_SELECTOR, 'li[data-id="dask-dashboard-launcher"]').click()
                for _ in range(10):
                    panes = driver.execute_script(DASK_PANES)
                    if panes:
                        break
                    time.sleep(1)
        time.sleep(2)  # let the lab finish loading its plugins
        Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(screenshot))
        return browser.console_errors(driver), panes, driver.title


def run_cells(python, base_url, ca_file, token_file, cells, timeout=300):
    """Run cells (a list of code strings) in a new kernel of the server, with this file as a
    script under python (which needs tornado); return {"outputs": [...], "errors": [...]}."""
    run = subprocess.run([str(python), __file__, base_url, str(ca_file), str(token_file)], input=json.dumps(cells),
                         capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


async def _execute(base_url, ca_file, token, cells):
    from tornado.httpclient import AsyncHTTPClient, HTTPRequest
    from tornado.websocket import websocket_connect

    client = AsyncHTTPClient()
    headers = {"Authorization": f"token {token}"}
    kernel = json.loads((await client.fetch(HTTPRequest(base_url + "/api/kernels", method="POST", body="{}",
                                                        headers=headers, ca_certs=ca_file))).body)
    result = {"outputs": [], "errors": []}
    try:
        socket = await websocket_connect(HTTPRequest(
            base_url.replace("https://", "wss://") + f"/api/kernels/{kernel['id']}/channels", headers=headers,
            ca_certs=ca_file))
        session = uuid.uuid4().hex
        for code in cells:
            msg_id = uuid.uuid4().hex
            socket.write_message(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "test",
                           "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            while True:
                message = json.loads(await socket.read_message())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream" and content["name"] == "stdout":  # stderr has Dask's logging
                    result["outputs"].append(content["text"])
                elif kind in ("execute_result", "display_data"):
                    result["outputs"].append(content["data"].get("text/plain", ""))
                elif kind == "error":
                    result["errors"].append(f"{content['ename']}: {content['evalue']}")
                elif kind == "status" and content["execution_state"] == "idle":
                    break
        socket.close()
    finally:
        await client.fetch(HTTPRequest(base_url + f"/api/kernels/{kernel['id']}", method="DELETE", headers=headers,
                                       ca_certs=ca_file))
    return result


if __name__ == "__main__":
    import asyncio

    url, ca, token_path = sys.argv[1:4]
    print(json.dumps(asyncio.run(_execute(url, ca, read_token(token_path), json.load(sys.stdin)))))
