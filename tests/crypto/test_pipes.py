"""crypto._pipes: helpers fed through pipes while the caller computes its own share."""

from __future__ import annotations

import os
import signal
import time

import gmpy2
import numpy as np
import pytest

from crypto import _multiexp, _pipes, _pool


def _fail(msg: str) -> None:
    raise ValueError(msg)


@pytest.fixture
def helpers():
    pw = _pipes.PipeWorkers(1)
    yield pw
    pw.close()


def test_shares_run_in_a_helper_and_here(helpers: _pipes.PipeWorkers) -> None:
    remote, mine = helpers.share([(os.getpid, ())], os.getpid)
    assert mine == os.getpid() and remote[0] != os.getpid()
    assert remote[0] in helpers.pids()


def test_a_helper_error_is_raised_here_and_leaves_no_stale_answer(
    helpers: _pipes.PipeWorkers,
) -> None:
    with pytest.raises(ValueError, match="bad share"):
        helpers.share([(_fail, ("bad share",))], lambda: 1)
    assert helpers.share([(abs, (-3,))], lambda: 4) == ([3], 4)
    # an error here still collects the helper's answer first
    with pytest.raises(ZeroDivisionError):
        helpers.share([(abs, (-5,))], lambda: 1 // 0)
    assert helpers.share([(abs, (-6,))], lambda: 0) == ([6], 0)


def _exit_unless_in(pid: int) -> str:
    if os.getpid() != pid:
        os._exit(3)  # a helper that dies in the middle of a job
    return "computed by the caller"


def test_a_helper_that_dies_mid_job_has_its_share_computed_here(
    helpers: _pipes.PipeWorkers,
) -> None:
    with pytest.warns(RuntimeWarning, match="helper process 0 is gone"):
        remote, mine = helpers.share([(_exit_unless_in, (os.getpid(),))], lambda: 1)
    assert remote == ["computed by the caller"] and mine == 1
    (pid,), _ = helpers.share([(os.getpid, ())], lambda: None)  # a new helper
    assert pid != os.getpid()


def test_a_helper_killed_between_jobs_is_replaced(helpers: _pipes.PipeWorkers) -> None:
    (pid,), _ = helpers.share([(os.getpid, ())], lambda: None)
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    (pid2,), _ = helpers.share([(os.getpid, ())], lambda: None)
    assert pid2 not in (pid, os.getpid())


def test_more_jobs_than_helpers_or_a_busy_set_run_here(helpers: _pipes.PipeWorkers) -> None:
    remote, _ = helpers.share([(os.getpid, ()), (os.getpid, ())], lambda: None)
    assert remote == [os.getpid()] * 2
    inner: list[object] = []
    remote, _ = helpers.share(
        [(os.getpid, ())], lambda: inner.append(helpers.share([(os.getpid, ())], os.getpid))
    )
    assert inner == [([os.getpid()], os.getpid())] and remote[0] != os.getpid()


@pytest.mark.parametrize("shape", [(300, 1), (64, 5)])
def test_parallel_multi_exp_equals_the_powmod_loop(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(11)
    n = gmpy2.next_prime(gmpy2.mpz(2) ** 255) * gmpy2.next_prime(gmpy2.mpz(3) ** 160)
    N = n * n
    bases = [gmpy2.mpz(int(v)) % N for v in rng.integers(2, 2**62, size=shape[0])]
    exps = rng.integers(-(2**15), 2**16, size=shape)
    got = _pool.parallel_multi_exp(bases, exps, N, workers=2)
    for j in range(shape[1]):
        ref = gmpy2.mpz(1)
        for b, e in zip(bases, exps[:, j].tolist(), strict=True):
            ref = ref * gmpy2.powmod(b, e, N) % N
        assert got[j] == ref
    assert got == _multiexp.multi_exp_columns(bases, exps, N)
