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
    # A task's header goes into the report once, before its first failure.
    picked, header_to_show, in_failure = [], None, False
    for line in result.stdout.splitlines():
        if TASK_HEADER.match(line):
            header_to_show, in_failure = line, False
        elif line.startswith(("fatal: [", "failed: [")):
            if header_to_show:
                picked.append(header_to_show)
                header_to_show = None
            picked.append(line[:3000])
            in_failure = True
        elif in_failure and line.startswith((" ", "}")):
            picked.append(line[:3000])
        else:
            in_failure = False
    recap_at = result.stdout.rfind("PLAY RECAP")
    summary = result.stdout[recap_at:] if recap_at >= 0 else result.stdout[-3000:]
    return "\n".join([*picked, summary, result.stderr[-3000:]])
