"""Many processes as one job, on JAX's own distributed runtime.

Call `initialize()` at the start of every process of the job (before anything else uses JAX):
afterwards `jax.devices()` lists the devices of all processes, and `fourierflow.sweep` (with
everything built on it: `sweep_alignment`, `sweep_lottery`, `solve_ensemble`) computes each
chunk as one global array sharded over all of them: each process computes its slice, the
results are gathered, every process returns the whole result, and only process 0 writes
files. The merged result is the one a single process computes (bitwise where the elements are
solved alone, e.g. `shared_steps=False`).

On SLURM, on Cloud TPU pod slices and under Open MPI, `initialize()` with no arguments finds
the cluster by itself (JAX's detection); elsewhere give `coordinator_address="host:port"`,
`num_processes` and `process_id`. If a process dies, the others notice within
`heartbeat_timeout` seconds (the coordination service stops them with an error instead of
letting them wait forever); a sweep that streams to a folder (`out=`) then resumes from what
it wrote (`resume=True`).
"""

import jax

__all__ = ["initialize", "is_writer", "process_count", "process_index", "shutdown"]


def initialize(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    local_device_ids: int | list[int] | None = None,
    heartbeat_timeout: int = 60,
    initialization_timeout: int = 300,
    cpu_collectives: str = "gloo",
) -> None:
    """Join this process to a multi-process job (`jax.distributed.initialize`).

    **Arguments:**

    - `coordinator_address`: `"host:port"` of process 0's coordination service; `None` to
      detect the cluster (SLURM, TPU pod slices, Open MPI), as JAX does.
    - `num_processes`, `process_id`: the job's size and this process's rank (`None`: detect).
    - `local_device_ids`: the devices of this machine this process uses (default: all).
    - `heartbeat_timeout`: seconds after which a silent (dead) process fails the job.
    - `initialization_timeout`: seconds to wait for every process to join.
    - `cpu_collectives`: the CPU collectives' implementation (`"gloo"`, or `"mpi"`), for jobs
      on CPUs; accelerators use their own.

    **Returns:**

    Nothing. Raises `ValueError` on inconsistent arguments, before contacting anyone.
    """
    if coordinator_address is not None:
        host, sep, port = coordinator_address.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(
                f"`coordinator_address` must look like 'host:port'; got {coordinator_address!r}."
            )
        if num_processes is None or process_id is None:
            raise ValueError(
                "with a `coordinator_address`, give `num_processes` and `process_id` too."
            )
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise ValueError(f"`num_processes` must be an int >= 1; got {num_processes!r}.")
    if process_id is not None and (
        not isinstance(process_id, int) or not 0 <= process_id < (num_processes or 1 << 30)
    ):
        raise ValueError(
            f"`process_id` must be an int in [0, num_processes); got {process_id!r} of "
            f"{num_processes!r}."
        )
    for name, value in (("heartbeat_timeout", heartbeat_timeout),
                        ("initialization_timeout", initialization_timeout)):  # fmt: skip
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an int >= 1 (seconds); got {value!r}.")
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
    jax.distributed.initialize(
        coordinator_address,
        num_processes,
        process_id,
        local_device_ids=local_device_ids,
        heartbeat_timeout_seconds=heartbeat_timeout,
        initialization_timeout=initialization_timeout,
    )


def shutdown() -> None:
    """Leave the job (`jax.distributed.shutdown`); a no-op for a single process.

    **Arguments:**

    (none)

    **Returns:**

    Nothing.
    """
    if jax.process_count() > 1:
        jax.distributed.shutdown()


def process_index() -> int:
    """This process's rank in the job (0 for a single process).

    **Arguments:**

    (none)

    **Returns:**

    `jax.process_index()`.
    """
    return jax.process_index()


def process_count() -> int:
    """The number of processes of the job (1 for a single process).

    **Arguments:**

    (none)

    **Returns:**

    `jax.process_count()`.
    """
    return jax.process_count()


def is_writer() -> bool:
    """Whether this process writes the job's shared files: process 0.

    **Arguments:**

    (none)

    **Returns:**

    `True` on process 0 (and for a single process).
    """
    return jax.process_index() == 0
