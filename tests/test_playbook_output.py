"""The failure report the local cloud's tests print when a playbook run fails."""

import subprocess

from playbook_output import failure_report

OUTPUT = """\
PLAY [Build the new environment beside the running one] ************************

TASK [dask_env : Install the locked packages] **********************************
ok: [dask-it-worker-1]
fatal: [dask-it-client-1]: FAILED! => {"changed": false, "msg": "pip says no"}

PLAY [Set up the clients] ******************************************************

TASK [dask_client : Write the notebooks] ***************************************
failed: [dask-it-client-2] (item=hello.ipynb) => {
    "msg": "disk full"
}
failed: [dask-it-client-2] (item=bye.ipynb) => {"msg": "disk full"}
ok: [dask-it-client-1]
""" + "ok: [dask-it-worker-1]\n" * 400 + """
PLAY RECAP *********************************************************************
dask-it-client-1           : ok=62   changed=6    unreachable=0    failed=1    skipped=25
"""


def test_the_report_names_each_failed_task_and_its_error_and_keeps_the_recap():
    run = subprocess.CompletedProcess([], 2, stdout=OUTPUT, stderr="a warning\n")
    report = failure_report(run).splitlines()
    assert report[:7] == [
        "TASK [dask_env : Install the locked packages] **********************************",
        'fatal: [dask-it-client-1]: FAILED! => {"changed": false, "msg": "pip says no"}',
        "TASK [dask_client : Write the notebooks] ***************************************",
        'failed: [dask-it-client-2] (item=hello.ipynb) => {',
        '    "msg": "disk full"',
        "}",
        'failed: [dask-it-client-2] (item=bye.ipynb) => {"msg": "disk full"}',
    ]
    assert report[7].startswith("PLAY RECAP") and "failed=1" in report[8]
    assert report[-1] == "a warning"
    assert "ok: [dask-it-worker-1]" not in report
