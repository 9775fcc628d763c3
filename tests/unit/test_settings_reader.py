"""One settings reader for the functions, the bootstrap and the embedded backend: unset or empty
gives the default, anything malformed is one SettingError line that names the variable."""

import pytest

from bootstrap.config import StackConfig, TableBilling
from device_data.archive import ArchiveLayout
from emulator.settings import EmulatorSettings
from env_settings.reader import SettingError, number, one_of, required, whole_number
from handlers.settings import ArchiveSettings, HistorySettings, IngestSettings


def test_unset_or_empty_settings_take_their_defaults():
    for env in ({}, {"X": ""}):
        assert whole_number(env, "X", 7) == 7
        assert number(env, "X", 0.5) == 0.5
        assert one_of(env, "X", ArchiveLayout.PER_ITEM) is ArchiveLayout.PER_ITEM


def test_set_values_are_parsed():
    assert whole_number({"X": "42"}, "X", 7) == 42
    assert number({"X": "0.25"}, "X", 0.5) == 0.25
    assert one_of({"X": "per-item"}, "X", ArchiveLayout.BATCH) is ArchiveLayout.PER_ITEM
    assert required({"X": "t"}, "X") == "t"


def test_a_missing_required_setting_is_named():
    with pytest.raises(SettingError) as raised:
        required({"TABLE_NAME": ""}, "TABLE_NAME")
    assert str(raised.value) == "TABLE_NAME is not set"


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3"])
def test_a_malformed_whole_number_is_one_line_naming_the_variable_and_value(value):
    with pytest.raises(SettingError) as raised:
        whole_number({"TTL_SECONDS": value}, "TTL_SECONDS", 1)
    assert str(raised.value) == f"TTL_SECONDS={value!r} is not a whole number"


@pytest.mark.parametrize("value", ["fast", "nan", "inf"])
def test_a_malformed_number_is_one_line_naming_the_variable_and_value(value):
    with pytest.raises(SettingError) as raised:
        number({"RETRY_BASE_DELAY_SECONDS": value}, "RETRY_BASE_DELAY_SECONDS", 0.05)
    assert str(raised.value) == f"RETRY_BASE_DELAY_SECONDS={value!r} is not a number"


def test_a_value_outside_the_choices_lists_them():
    with pytest.raises(SettingError) as raised:
        one_of({"ARCHIVE_LAYOUT": "zip"}, "ARCHIVE_LAYOUT", ArchiveLayout.BATCH)
    assert str(raised.value) == "ARCHIVE_LAYOUT='zip' is not one of batch, per-item"


@pytest.mark.parametrize(
    ("read", "env", "message"),
    [
        (IngestSettings.from_env, {"TABLE_NAME": "t", "TTL_SECONDS": "abc"}, "TTL_SECONDS='abc' is not a whole number"),
        (
            HistorySettings.from_env,
            {"DELIVERY_STREAM_NAME": "d", "RETRY_BASE_DELAY_SECONDS": "soon"},
            "RETRY_BASE_DELAY_SECONDS='soon' is not a number",
        ),
        (ArchiveSettings.from_env, {}, "ARCHIVE_BUCKET is not set"),
        (
            lambda env: StackConfig.from_env("local", env),
            {"FUNCTION_TIMEOUT_SECONDS": "30s"},
            "FUNCTION_TIMEOUT_SECONDS='30s' is not a whole number",
        ),
        (
            lambda env: StackConfig.from_env("local", env),
            {"TABLE_BILLING": "free"},
            "TABLE_BILLING='free' is not one of on-demand, provisioned",
        ),
        (EmulatorSettings.from_env, {"EMULATOR_PORT": "http"}, "EMULATOR_PORT='http' is not a whole number"),
        (EmulatorSettings.from_env, {"TTL_SWEEP_SECONDS": "often"}, "TTL_SWEEP_SECONDS='often' is not a number"),
    ],
)
def test_the_functions_the_bootstrap_and_the_emulator_report_a_bad_setting_the_same_way(read, env, message):
    with pytest.raises(SettingError) as raised:
        read(env)
    assert str(raised.value) == message


def test_settings_are_read_into_their_enums():
    config = StackConfig.from_env("local", {"TABLE_BILLING": "provisioned", "ARCHIVE_LAYOUT": "per-item"})
    assert config.billing is TableBilling.PROVISIONED and config.archive_layout is ArchiveLayout.PER_ITEM
    assert ArchiveSettings.from_env({"ARCHIVE_BUCKET": "b"}).layout is ArchiveLayout.BATCH
    assert EmulatorSettings.from_env({"EMULATOR_PORT": "4567"}).port == 4567
