"""Fit on a SLURM cluster with dask-jobqueue: workers are SLURM jobs, the data on a shared path.

Run on a login node (or in a small job) of the cluster:

    python -m pip install streamgmm dask-jobqueue     # the same environment on every node
    python examples/dask_jobqueue_slurm.py /shared/data.h5 /points --jobs 4 --cores 32

Each SLURM job starts one Dask worker process with ``--cores`` threads and ``--memory`` of
memory; the scheduler runs in this process. The HDF5 file must be readable at the same path
on every node (a parallel or network file system), and so must the Numba cache folder set
below, which ``python -m streamgmm._warmup`` fills once: without it, every worker compiles
the kernels on its first pass (about 10 s). Not tested here (no SLURM); the same fit with
a LocalCluster is ``examples/dask_cluster.py``. See docs/cluster.md.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="HDF5 file on a path every node reads")
    parser.add_argument("dataset", help="the 2-D dataset in it, e.g. /points")
    parser.add_argument("-k", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=4, help="SLURM jobs, one worker each")
    parser.add_argument("--cores", type=int, default=32, help="threads per worker (its cores)")
    parser.add_argument("--memory", default="120GB", help="memory per worker (SLURM --mem)")
    parser.add_argument("--queue", default=None, help="SLURM partition")
    parser.add_argument("--numba-cache", default=os.path.expanduser("~/.cache/streamgmm-numba"))
    parser.add_argument("--out", default="model.h5")
    args = parser.parse_args()

    from dask_jobqueue import SLURMCluster
    from distributed import Client

    import streamgmm

    cluster = SLURMCluster(
        cores=args.cores,
        processes=1,  # one worker process per job, --cores threads: blocks run in parallel
        memory=args.memory,
        queue=args.queue,
        walltime="02:00:00",
        # every worker: the same Numba cache (filled once by python -m streamgmm._warmup),
        # and one BLAS thread per kernel thread (the kernels call no BLAS)
        job_script_prologue=[
            f"export NUMBA_CACHE_DIR={args.numba_cache}",
            "export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1",
        ],
    )
    cluster.scale(jobs=args.jobs)
    with Client(cluster) as client:
        # A pass is cut into 4 tasks per worker thread present at the first pass: wait for
        # the workers, or the pass is cut for fewer threads than will run it.
        client.wait_for_workers(args.jobs, timeout="15 minutes")
        X = streamgmm.read_hdf5(args.data, args.dataset)  # every worker opens this path itself
        gm = streamgmm.GaussianMixture(args.k, covariance_type="full", random_state=0)
        gm.fit(X)  # an active Client: each pass runs on the cluster
        gm.save(args.out)
        print(f"converged={gm.converged_} n_iter={gm.n_iter_} lower bound {gm.lower_bound_:.6f}")
    cluster.close()


if __name__ == "__main__":
    main()
