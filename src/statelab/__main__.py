"""`python -m statelab` and the `statelab` console script.

Ctrl-C is turned into a flag (`statelab.interrupt`) before NumPy, JAX or matplotlib are imported:
a Ctrl-C during start-up then ends the command cleanly, not in the middle of an import.
"""

from statelab.interrupt import catching


def entry_point() -> None:
    with catching():
        from statelab.cli import entry_point as run  # the heavy imports start here

        run()


if __name__ == "__main__":
    entry_point()
