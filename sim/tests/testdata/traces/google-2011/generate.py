#!/usr/bin/env python3
"""Writes the synthetic Google cluster-data 2011 sample in this directory.

SYNTHETIC: no row comes from the real trace. The rows follow the column layout of
"Google cluster-usage traces: format + schema" (Reiss, Wilkes, Hellerstein; Google, 2014):
machine_events (6 columns) and task_events (13 columns), no header row, timestamps in
microseconds, capacities and requests normalized to the largest machine (1.0), user and
platform IDs as opaque base64 hashes. Run it again to get the same bytes (seeded).

    python3 generate.py
"""
import base64
import hashlib
import random

rng = random.Random(2011)


def opaque(text):
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


PLATFORMS = [opaque("platform-a"), opaque("platform-b"), opaque("platform-c")]
USERS = [opaque(f"user-{i}") for i in range(6)]
S = 1_000_000  # microseconds per second
START = 600 * S  # the trace window opens 600 s after time 0
AFTER_END = 2**63 - 1

machines = []
# 30 machines present at time 0: ADD, and for a few an UPDATE at time 0.
shapes = [(0.5, 0.2493), (0.5, 0.4995), (1.0, 1.0), (0.25, 0.2498), (0.5, 0.749)]
for i in range(30):
    mid = 5 + i * 7919
    cpu, mem = shapes[rng.randrange(len(shapes))]
    machines.append((0, mid, 0, PLATFORMS[i % 3], cpu, mem))
machines.append((0, 5 + 3 * 7919, 2, PLATFORMS[0], 0.5, 0.4995))  # update at time 0
machines.append((0, 999_001, 0, PLATFORMS[1], 0.5, ""))  # no memory at time 0 ...
machines.append((0, 999_001, 2, "", "", 0.2493))  # ... given by an update at time 0
# Later events the replay leaves out.
machines.append((1_800 * S, 5 + 4 * 7919, 1, "", "", ""))  # removed
machines.append((2_400 * S, 5 + 4 * 7919, 0, PLATFORMS[0], 0.5, 0.2493))  # back
machines.append((3_000 * S, 777_001, 0, PLATFORMS[2], 1.0, 1.0))  # new machine
machines.append((3_600 * S, 5 + 6 * 7919, 2, PLATFORMS[1], 0.5, 0.749))  # capacity change
machines.sort(key=lambda r: r[0])

events = []


def task_row(t, job, index, machine, event, user, cls, prio, cpu, mem, disk, diff):
    events.append((t, "", job, index, machine, event, user, cls, prio, cpu, mem, disk, diff))


job_id = 6_000_000_000
for j in range(18):
    job_id += rng.randrange(10_000, 90_000)
    user = USERS[rng.randrange(len(USERS))]
    cls = rng.randrange(4)
    prio = rng.choice([0, 1, 2, 4, 9, 10, 11])
    n = rng.randrange(2, 10)
    diff = 1 if j % 6 == 0 else 0
    cpu = rng.choice([0.00625, 0.0125, 0.025, 0.03125, 0.0625, 0.125])
    mem = rng.choice([0.001554, 0.003109, 0.006218, 0.01243, 0.02487])
    disk = rng.choice([0.0001154, 0.0003862, 0.0007725])
    submit = 0 if j < 4 else START + rng.randrange(0, 5_400) * S
    for index in range(n):
        machine = machines[rng.randrange(30)][1]
        t = submit
        task_row(t, job_id, index, "", 0, user, cls, prio, cpu, mem, disk, diff)
        fate = rng.random()
        if fate < 0.08:
            continue  # never scheduled: pending to the end
        t += rng.randrange(0, 30) * S + rng.randrange(0, S)
        task_row(t, job_id, index, machine, 1, user, cls, prio, cpu, mem, disk, diff)
        if fate < 0.16:
            continue  # still running at the end of the trace
        if fate < 0.22:
            # Runs past the end of the window: the end event is at 2^63 - 1.
            task_row(AFTER_END, job_id, index, machine, 4, user, cls, prio, "", "", "", diff)
            continue
        if fate < 0.26:
            task_row(t + 60 * S, job_id, index, machine, 8, user, cls, prio, cpu, mem * 2, disk, diff)
        t += rng.randrange(30, 3_600) * S + rng.randrange(0, S)
        end = 4 if fate < 0.7 else (3 if fate < 0.8 else (5 if fate < 0.9 else 2))
        task_row(t, job_id, index, machine, end, user, cls, prio, cpu, mem, disk, diff)
        if end in (2, 3):
            # Resubmitted after an eviction or a failure, scheduled again, finished.
            t += rng.randrange(1, 60) * S
            task_row(t, job_id, index, "", 0, user, cls, prio, cpu, mem, disk, diff)
            t += rng.randrange(1, 30) * S
            other = machines[rng.randrange(30)][1]
            task_row(t, job_id, index, other, 1, user, cls, prio, cpu, mem, disk, diff)
            t += rng.randrange(30, 1_800) * S
            task_row(t, job_id, index, other, 4, user, cls, prio, cpu, mem, disk, diff)

events.sort(key=lambda r: (r[0], r[2], r[3]))


def fmt(v):
    return "" if v == "" else str(v)


with open("machine_events.csv", "w") as f:
    for r in machines:
        f.write(",".join(fmt(v) for v in r) + "\n")
with open("task_events.csv", "w") as f:
    for r in events:
        f.write(",".join(fmt(v) for v in r) + "\n")
