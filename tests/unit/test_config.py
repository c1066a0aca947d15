from pathlib import Path

import pytest

from dynamo_continuous_backup.core.config import Config, config_from_env, load_config
from dynamo_continuous_backup.core.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.hjson"
    path.write_text(text)
    return path


def test_example_config_loads() -> None:
    config = load_config(Path(__file__).parents[2] / "config" / "config.hjson")
    assert config.firehose_delivery_bucket
    assert config.firehose_compression == "GZIP"


def test_original_tool_keys_keep_their_meaning(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """{
      region: "eu-west-1", firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "p",
      firehoseDeliveryRoleArn: "arn:aws:iam::1:role/f", firehoseDeliverySizeMB: 128,
      firehoseDeliveryIntervalSeconds: 0, lambdaExecRoleArn: "arn:aws:iam::1:role/l",
      cloudWatchRoleArn: "arn:aws:iam::1:role/c", streamsMaxRecordsBatch: 500, tableNameMatchRegex: "prod-.*"
    }""",
    )
    c = load_config(path)
    assert (c.region, c.prefix, c.firehose_delivery_size_mb, c.firehose_delivery_interval_seconds) == (
        "eu-west-1",
        "p",
        128,
        0,
    )
    assert c.streams_max_records_batch == 500 and c.table_name_match_regex == "prod-.*"
    assert c.maximum_retry_attempts == -1  # retry until delivered


def test_region_flag_beats_file(tmp_path: Path) -> None:
    assert (
        load_config(write(tmp_path, '{firehoseDeliveryBucket: "b", region: "eu-west-1"}'), "ap-south-1").region
        == "ap-south-1"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{firehoseDeliveryBucket: "b", firehoseDeliveryBuckt: "c"}',
            "unknown key 'firehoseDeliveryBuckt'; did you mean",
        ),
        ('{firehoseDeliveryBucket: "b", streamsMaxRecordsBatch: "ten"}', "'streamsMaxRecordsBatch' must be int"),
        ('{firehoseDeliveryBucket: "b", streamsMaxRecordsBatch: true}', "'streamsMaxRecordsBatch' must be int"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryIntervalSeconds: 901}', "between 0 and 900"),
        (
            '{firehoseDeliveryBucket: "b", streamsBatchingWindowSeconds: 301}',
            "'streamsBatchingWindowSeconds' must be between 0 and 300",
        ),
        ('{firehoseDeliveryBucket: "b", streamsBatchingWindowSeconds: -1}', "must be between 0 and 300, got -1"),
        (
            '{firehoseDeliveryBucket: "b", streamsBatchingWindowSeconds: 1.5}',
            "'streamsBatchingWindowSeconds' must be int",
        ),
        ('{firehoseDeliveryBucket: "b", streamsBatchingWindowSecs: 5}', "did you mean 'streamsBatchingWindowSeconds'"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliverySizeMB: 0}', "between 1 and 128"),
        ('{firehoseDeliveryBucket: "b", firehoseCompression: "BZIP"}', "must be one of GZIP"),
        ('{firehoseDeliveryBucket: "b", tableNameMatchRegex: "a(("}', "'tableNameMatchRegex' is not a valid regex"),
        ('{firehoseDeliveryBucket: "b", optInHook: "no_such_module_x:f"}', "'optInHook' cannot be imported"),
        ('{firehoseDeliveryBucket: "b", optInHook: "nocolon"}', "must look like 'module:function'"),
        ('{region: "us-east-1"}', "'firehoseDeliveryBucket' is required"),
        ('{firehoseDeliveryBucket: "b",\n  region: [}', "malformed hjson at line"),
        ("[1, 2]", "expected an object"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: ""}', "'firehoseDeliveryPrefix' must be a non-empty"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "/p"}', "without a leading or trailing '/'"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "p/"}', "without a leading or trailing '/'"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "a//b"}', "'firehoseDeliveryPrefix' must be"),
        ('{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "a/../b"}', "'firehoseDeliveryPrefix' must be"),
        (
            '{firehoseDeliveryBucket: "b", athenaOutputLocation: "b/results/"}',
            "'athenaOutputLocation' must be an s3://",
        ),
        ('{firehoseDeliveryBucket: "b", athenaWorkgroup: "a b"}', "'athenaWorkgroup' must be letters"),
        ('{firehoseDeliveryBucket: "b", athenaDatabase: "x; DROP"}', "'athenaDatabase' must be lower-case"),
    ],
)
def test_config_errors_name_the_key_and_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_config(write(tmp_path, text))


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read it"):
        load_config(tmp_path / "nope.hjson")


def test_lambda_environment_round_trip() -> None:
    config = Config(firehose_delivery_bucket="b", region="eu-west-1", table_name_exclude_regex="tmp-.*")
    assert config_from_env({"DCB_CONFIG": config.to_json()}) == config
    with pytest.raises(ConfigError, match="DCB_CONFIG is not set"):
        config_from_env({})


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path, '{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "nope", firehoseDeliveryPrefix: "ok"}'
    )
    with pytest.raises(ConfigError, match="'firehoseDeliveryPrefix' is given twice"):
        load_config(path)


def test_the_cache_is_optional(monkeypatch: pytest.MonkeyPatch) -> None:
    from dynamo_continuous_backup.restore.backups import default_cache

    monkeypatch.setenv("DCB_CACHE_DIR", "none")
    one, two = default_cache(), default_cache()
    assert one != two and one.is_dir() and not any(one.iterdir())  # fresh each time, removed at exit
    monkeypatch.setenv("DCB_CACHE_DIR", "/tmp/somewhere")
    assert str(default_cache()) == "/tmp/somewhere"


def test_athena_defaults_and_output_location(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '{firehoseDeliveryBucket: "b", firehoseDeliveryPrefix: "p/q"}'))
    assert (config.athena_workgroup, config.athena_database) == ("primary", "dynamodb_backups")
    assert config.athena_results == "s3://b/p/q/@athena-results/"
    given = load_config(write(tmp_path, '{firehoseDeliveryBucket: "b", athenaOutputLocation: "s3://other/r/"}'))
    assert given.athena_results == "s3://other/r/"
