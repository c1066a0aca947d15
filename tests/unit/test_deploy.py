"""The IAM write-on-star detector deploy's tests rely on."""

from __future__ import annotations

from dynamo_continuous_backup.install import iam


def test_write_on_star_detector_can_fail() -> None:
    bad = {"Statement": [{"Effect": "Allow", "Action": ["s3:PutObject"], "Resource": "*"}]}
    assert iam.write_actions_on_star(bad) == ["s3:PutObject"]
