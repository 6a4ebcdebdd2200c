"""Reading ansible-playbook output in the tests."""

import re

# The line that starts a task or a handler in the output; group 1 is its name.
TASK_HEADER = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \**$")


def recap(output):
    """{host: {'ok': n, 'changed': n, 'failed': n, ...}} from the PLAY RECAP of output."""
    return {host: {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counts)}
            for host, counts in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.MULTILINE)}


def changed_tasks(output):
    """{host: [task name, ...]} of the tasks that reported changed, from ansible-playbook output."""
    return tasks_with_status(output, "changed")


def run_tasks(output):
    """{host: [task name, ...]} of the tasks that ran on each host (ok or changed)."""
    return tasks_with_status(output, "ok", "changed")


def tasks_with_status(output, *statuses):
    tasks, task = {}, None
    status = "|".join(statuses)
    for line in output.splitlines():
        if match := TASK_HEADER.match(line):
            task = match.group(1)
        elif match := re.match(rf"^(?:{status}): \[([^\]\s]+)", line):
            tasks.setdefault(match.group(1), [])
            if task not in tasks[match.group(1)]:
                tasks[match.group(1)].append(task)
    return tasks


def failure_report(result):
    """What a playbook run (a CompletedProcess) says when it fails, short enough for a test
    report: each failed task's header and error (with the lines of a result printed over
    several), the recap, and the end of stderr. The tail of the output alone misses a failure
    that stopped one host early in the run."""
    lines = result.stdout.splitlines()
    picked, task_at, shown_at, in_failure = [], None, None, False
    for number, line in enumerate(lines):
        if TASK_HEADER.match(line):
            task_at, in_failure = number, False
        elif line.startswith(("fatal: [", "failed: [")):
            if task_at is not None and shown_at != task_at:  # a task's header once, before its first failure
                picked.append(lines[task_at])
                shown_at = task_at
            picked.append(line[:3000])
            in_failure = True
        elif in_failure and line.startswith((" ", "}")):
            picked.append(line[:3000])
        else:
            in_failure = False
    recap_at = result.stdout.rfind("PLAY RECAP")
    summary = result.stdout[recap_at:] if recap_at >= 0 else result.stdout[-3000:]
    return "\n".join([*picked, summary, result.stderr[-3000:]])
