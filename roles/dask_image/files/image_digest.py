"""The digest of what a baked node image holds, on the controller.

Usage: python image_digest.py < {"inputs": {...}, "paths": [PATH, ...]}

Prints the sha256 (hex) of the inputs (settings, as canonical JSON) and of every file under
the paths (a role's directory, a lock file), each by its path relative to the path it was
found under and its bytes. READMEs and compiled Python leave it unchanged: they do not change
what a node gets. The same inputs and files give the same digest on any machine.
"""

import hashlib
import json
import sys
from pathlib import Path

SKIPPED_NAMES = {"README.md"}
SKIPPED_DIRS = {"__pycache__"}


def files_under(root):
    if root.is_file():
        return [(root.name, root)]
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and path.name not in SKIPPED_NAMES and not SKIPPED_DIRS & set(relative.parts):
            found.append((f"{root.name}/{relative.as_posix()}", path))
    return found


def digest(inputs, paths):
    sha = hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode())
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise SystemExit(f"image_digest: {root} does not exist")
        for name, path in files_under(root):
            sha.update(b"\0" + name.encode() + b"\0")
            sha.update(hashlib.sha256(path.read_bytes()).digest())
    return sha.hexdigest()


if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(digest(request["inputs"], request["paths"]))
