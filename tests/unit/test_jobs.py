"""domain/jobs.py: each job declared once, and the queues are exactly those the jobs run on."""

from __future__ import annotations

import pytest

from domain import jobs
from domain.jobs import JOBS, QUEUES, Job
from frontdesk.cli import main


def test_every_job_constant_is_in_the_registry_once_and_actor_names_are_unique():
    constants = [value for value in vars(jobs).values() if isinstance(value, Job)]
    assert sorted(constants, key=str) == sorted(JOBS, key=str)
    assert len({job.actor for job in JOBS}) == len(JOBS)


def test_the_queues_are_the_jobs_queues_each_once():
    assert sorted(QUEUES) == sorted({job.queue for job in JOBS})
    assert len(QUEUES) == len(set(QUEUES))


def test_the_otp_queue_is_its_own_so_codes_can_get_their_own_workers():
    assert [job for job in JOBS if job.queue == jobs.SEND_CODE.queue] == [jobs.SEND_CODE]


def test_frontdesk_worker_refuses_an_unknown_queue_and_names_the_valid_ones(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["worker", "--queues", "otp", "faxes"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'faxes'" in err
    assert all(f"'{queue}'" in err for queue in QUEUES)
