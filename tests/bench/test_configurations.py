from __future__ import annotations

from bench.configurations import configuration_labels


def test_one_configuration_of_a_task_is_labelled_by_the_task_alone():
    assert configuration_labels({"a": {"task": "t", "identity_options": {}, "dataset_fingerprint": "d", "limit": None}}) == {"a": "t"}


def test_labels_name_what_differs_and_never_collide():
    configurations = {
        "id-one": {"task": "t", "identity_options": {"suffix": "please answer with digits only (v1)"}, "dataset_fingerprint": "d", "limit": 3},
        "id-two": {"task": "t", "identity_options": {"suffix": "please answer with digits only (v2)"}, "dataset_fingerprint": "d", "limit": 3},
        "id-three": {"task": "t", "identity_options": {"suffix": "short"}, "dataset_fingerprint": "d", "limit": 3},
    }
    labels = configuration_labels(configurations)
    assert len(set(labels.values())) == 3
    assert labels["id-three"] == "t[suffix=short]"
    assert all(label.startswith("t[suffix=please a") for cid, label in labels.items() if cid != "id-three")
