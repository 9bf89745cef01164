#!/usr/bin/env python3
"""Storage requests per job, by kind, from an Azurite access log (what the transaction meters of Blob and Queue
Storage would count for the same traffic in Azure).

    usage: scripts/storage-requests.py [LOG [NAME_PART]]     (LOG: .azurite/azurite.log)

With NAME_PART only the containers and queues whose name contains it count (bench-batching.sh names each host's
queue and containers bench-<host>-..., so `bench-batched-` gives that host's requests alone).

A job is a message put on a job queue (POST .../messages on a queue other than a -poison one); the model's own files
(the upload and the workers' downloads) are left out. Status polls by clients are counted with the jobs they poll.
Prints figures; it is not a test.

    usage: scripts/storage-requests.py --failover [LOG [NAME_PART]]

What failover (issue 25, docs/reliability.md) adds, per hour per instance: heartbeat writes, reads and deletes
(`_instances/...` blobs), the sweeps' listings (`prefix=_instances/`) and checkpoint writes (`_checkpoints/...`), over
the span of time the log covers (its first to its last request), divided by the instances whose heartbeats it saw. Run
it once over a log of instances at rest (no jobs) and once over one under load (e.g. kill-mid-job.sh's run).
"""
import collections
import re
import sys

LINE = re.compile(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP/[\d.]+" (\d{3})')


TIME = re.compile(r"\[(\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]")


def kind(container: str, rest: str) -> str:
    if rest.startswith("_instances/"):
        return "heartbeat"
    if rest.startswith("_checkpoints/"):
        return "checkpoint"
    if rest.startswith("_by-time/"):
        return "job index entry"
    if rest.startswith("_by-content/"):
        return "job content index"
    if rest.startswith("_inputs/"):
        return "job input"
    if rest.startswith("_checkpoints/"):
        return "job checkpoint"
    if rest == "messages":
        return "queue messages"
    if rest.startswith("messages/"):
        return "queue message"
    if rest.endswith(".json"):
        return "manifest" if rest.endswith("manifest.json") and "/" in rest else "job record or output"
    if rest == "":
        return "container or queue"
    return "other"


def failover(path: str, name_part: str) -> int:
    import datetime
    counts: collections.Counter[str] = collections.Counter()
    instances: set[str] = set()
    first = last = None
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            m = LINE.search(line)
            if not m:
                continue
            method, url, _status = m.groups()
            path_part, _, query = url.partition("?")
            parts = path_part.split("/")
            if len(parts) < 3 or name_part not in parts[2]:
                continue
            t = TIME.search(line)
            if t:
                at = datetime.datetime.strptime(t.group(1), "%d/%b/%Y:%H:%M:%S %z")
                first = first or at
                last = at
            rest = "/".join(parts[3:])
            if rest.startswith("_instances/"):
                instances.add(rest[len("_instances/"):])
                counts[f"{method} heartbeat"] += 1
            elif rest == "" and "comp=list" in query and "prefix=_instances" in query:
                counts["GET heartbeat listing (sweep)"] += 1
            elif rest.startswith("_checkpoints/"):
                counts[f"{method} checkpoint"] += 1
    if not instances or first is None or last is None or last <= first:
        print(f"{path}: no heartbeats (or no time span) in the log{' for ' + name_part if name_part else ''}", file=sys.stderr)
        return 1
    hours = (last - first).total_seconds() / 3600
    total = sum(counts.values())
    print(f"{len(instances)} instance(s), {hours * 60:.1f} min of log: {total / hours / len(instances):.0f} failover requests per hour per instance")
    for what, n in counts.most_common():
        print(f"  {n / hours / len(instances):8.1f} per hour per instance  {what}")
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args[:1] == ["--failover"]:
        return failover(args[1] if len(args) > 1 else ".azurite/azurite.log", args[2] if len(args) > 2 else "")
    path = sys.argv[1] if len(sys.argv) > 1 else ".azurite/azurite.log"
    name_part = sys.argv[2] if len(sys.argv) > 2 else ""
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    jobs = 0
    with open(path, encoding="utf-8", errors="replace") as log:
        for line in log:
            m = LINE.search(line)
            if not m:
                continue
            method, url, _status = m.groups()
            path_part, _, query = url.partition("?")
            parts = path_part.split("/")  # '', account, container, rest...
            if len(parts) < 3:
                continue
            container, rest = parts[2], "/".join(parts[3:])
            if name_part not in container:
                continue
            if rest.endswith(".onnx") or ".onnx_data" in rest or rest.endswith((".model", "config.json")) or "manifest" in rest:
                continue  # the model's files
            comp = re.search(r"comp=(\w+)", query)
            what = kind(container, rest)
            if container.endswith("-poison"):
                what = "poison queue: " + what
            counts[(method, what, comp.group(1) if comp else "")] += 1
            if method == "POST" and what == "queue messages":
                jobs += 1
    if jobs == 0:
        print(f"{path}: no job messages in the log{' for ' + name_part if name_part else ''}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    print(f"{jobs} jobs, {total} storage requests: {total / jobs:.1f} per job ({path}{', ' + name_part if name_part else ''})")
    for (method, what, comp), n in counts.most_common():
        print(f"  {n / jobs:6.2f} per job  {method:6} {what}{' (comp=' + comp + ')' if comp else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
