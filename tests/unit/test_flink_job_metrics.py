"""`records_per_subtask` reads the JobManager's REST answers (stood in for here) in
subtask order, and names the operators there are when asked for one that is not."""

import pytest

from labkit.errors import LabError
from labkit.stack import flink_jobs

JOB = {"vertices": [{"id": "v1", "name": "Source: payments -> Calc"},
                    {"id": "v2", "name": "KEYED PROCESS -> Map -> features_sink"}]}
VERTEX = {"subtasks": [{"metrics": {"read-records": 44265}},
                       {"metrics": {"read-records": 15735}}]}


@pytest.fixture
def rest(monkeypatch):
    answers = {"/jobs/j1": JOB, "/jobs/j1/vertices/v2": VERTEX}
    monkeypatch.setattr(flink_jobs, "rest_get", lambda path, _settings: answers[path])


def test_records_of_each_subtask_of_the_named_operator(rest):
    assert flink_jobs.records_per_subtask("j1", "KEYED PROCESS", settings=object()) == [
        44265, 15735]


def test_an_unknown_operator_names_the_ones_the_job_has(rest):
    with pytest.raises(LabError, match="KEYED PROCESS -> Map") as error:
        flink_jobs.records_per_subtask("j1", "WINDOW", settings=object())
    assert "no operator named 'WINDOW'" in str(error.value)
