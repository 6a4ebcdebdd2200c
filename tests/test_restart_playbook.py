"""restart.yml refuses a batch that would leave no worker to take the batch's results, and
a malformed switch, before any worker is touched."""

import pytest

from conftest import valid_inventory

# The valid inventory has two worker hosts: a batch must be 1.
BAD_SETTINGS = [
    ("batch of every worker", "dask_rolling_batch=2", "dask_rolling_batch must be less than the 2 hosts in group 'dask_workers'"),
    ("batch of zero", "dask_rolling_batch=0", "got '0'"),
    ("batch not a number", "dask_rolling_batch=half", "argument 'dask_rolling_batch' is of type str and we were unable to convert to int"),
    ("scheduler switch not a boolean", "dask_restart_scheduler=maybe", "unable to convert to bool: The value 'maybe' is not a valid boolean"),
]


@pytest.mark.parametrize("case,extra_var,expected", BAD_SETTINGS, ids=[case[0] for case in BAD_SETTINGS])
def test_restart_refuses_bad_settings_before_touching_a_worker(run_playbook, case, extra_var, expected):
    rc, output = run_playbook("playbooks/restart.yml", valid_inventory(), "-e", extra_var)
    assert rc != 0
    assert expected in output
    # The hosts do not exist: had the check passed, the run would have failed on connecting.
    assert "PLAY [Restart the workers" not in output
    assert "UNREACHABLE" not in output


def test_restart_accepts_good_settings(run_playbook):
    rc, output = run_playbook("playbooks/restart.yml", valid_inventory(),
                              "-e", "dask_rolling_batch=1", "-e", "dask_restart_scheduler=true")
    # Past the checks, the run goes on to the (absent) scheduler and fails there.
    assert "must be" not in output
    assert "TASK [dask_worker : Read the scheduler's facts, unless this run already has them]" in output
    assert rc != 0
