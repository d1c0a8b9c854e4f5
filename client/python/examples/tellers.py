#!/usr/bin/env python3
"""The bank tellers of threading.Barrier's documentation, as processes.

Three tellers (multiprocessing processes here; they could as well run on three
hosts) prepare their counters, wait at the barrier "tellers" of barrierd, then all
announce at the same second that they are ready to serve customers. The last to
arrive runs the action. The server: $BARRIERD_ADDR, else 127.0.0.1:7411.

    python3 client/python/examples/tellers.py
"""
import multiprocessing
import random
import sys
import time

import barrierclient

N_TELLERS = 3


def say(what):
    # One write per line: the processes share stdout.
    sys.stdout.write(f"{time.strftime('%H:%M:%S')}: {what}\n")
    sys.stdout.flush()


def announce():
    say("All tellers are ready to serve customers.")


def prepare_for_work(name):
    # The same code as with threading.Barrier; only the constructor names the barrier.
    barrier = barrierclient.Barrier("tellers", N_TELLERS, action=announce, timeout=60)
    say(f"{name} is preparing their counter.")
    time.sleep(random.randint(1, 3))  # different tellers take a different time
    say(f"{name} has finished preparing.")
    barrier.wait()
    say(f"{name} is now ready to serve customers.")


if __name__ == "__main__":
    tellers = [multiprocessing.Process(target=prepare_for_work, args=(f"Teller {i}",))
               for i in range(1, N_TELLERS + 1)]
    for t in tellers:
        t.start()
    for t in tellers:
        t.join()
