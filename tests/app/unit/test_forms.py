"""The page's forms without a server: the run form and the class form share one base, parse
into the API's models, and name the first bad field in the same words as before."""

import pytest

from app import limits as L
from app.contract.api import RunIn
from app.runs.errors import BadInput
from app.web.forms import (
    ClassFields,
    RunFields,
    RunSettingsFields,
    parse_class,
    parse_int,
    parse_lr,
    parse_pace,
    parse_run,
    parse_step,
    parse_temperature,
)

SHARED = ["name", "dataset", "lr", "steps", "n_embd", "n_head", "n_layer", "block_size"]


def test_the_run_form_and_the_class_form_share_the_eight_run_settings():
    assert list(RunSettingsFields.model_fields) == SHARED
    assert issubclass(RunFields, RunSettingsFields) and issubclass(ClassFields, RunSettingsFields)
    assert set(RunFields.model_fields) - set(SHARED) == {"text", "seed"}
    assert set(ClassFields.model_fields) - set(SHARED) == {"steps_per_run", "runs_per_student"}


def test_an_empty_form_is_microgpts_defaults():
    assert parse_run(RunFields().model_dump()) == RunIn()


def test_filled_keeps_only_what_was_typed():
    assert RunFields(lr="0.05", steps="", seed=None).filled() == {"lr": "0.05"}


def test_the_typed_values_become_the_run_settings():
    spec = parse_run(RunFields(name=" deep ", lr="0.05", n_layer="2", dataset="names").model_dump())

    assert (spec.name, spec.lr, spec.n_layer, spec.dataset) == ("deep", 0.05, 2, "names")


def test_own_data_takes_the_text_as_the_list():
    spec = parse_run(RunFields(dataset="own", text="ada\nalan").model_dump())

    assert spec.dataset.text == "ada\nalan"


def test_a_word_where_a_number_goes_is_named_with_what_is_allowed():
    with pytest.raises(ValueError) as e:
        parse_run(RunFields(seed="forty-two").model_dump())

    assert str(e.value) == f"seed 'forty-two' is not a whole number: {L.SEED.allowed()}"


def test_a_learning_rate_that_is_not_a_number_is_named():
    with pytest.raises(ValueError, match="lr 'fast' is not a number: a number in"):
        parse_run(RunFields(lr="fast").model_dump())


def test_the_first_bad_field_named_is_in_run_in_order_whatever_the_forms_order():
    # seed comes after the shared fields in RunFields, but before lr in RunIn (and on the page)
    with pytest.raises(ValueError, match="^seed"):
        parse_run(RunFields(lr="fast", seed="x").model_dump())


def test_a_value_out_of_bounds_is_named_as_a_form_field():
    with pytest.raises(ValueError) as e:
        parse_run(RunFields(n_embd="99").model_dump())

    assert str(e.value) == "form 'n_embd' = 99 is invalid: input should be less than or equal to 32"


def test_a_class_needs_a_name_and_names_its_limits_before_its_preset():
    with pytest.raises(ValueError, match="the class needs a name"):
        parse_class(ClassFields(name="  ").model_dump())
    with pytest.raises(ValueError, match="^steps_per_run must be a whole number from 1 to"):
        parse_class(ClassFields(name="c", steps_per_run="many", lr="x").model_dump())
    with pytest.raises(ValueError, match="got 0$"):
        parse_class(ClassFields(name="c", runs_per_student="0").model_dump())


def test_a_class_form_parses_into_its_name_preset_and_limits():
    fields = ClassFields(
        name=" Physics  3 ", steps="20", n_embd="8", n_head="2", steps_per_run="50"
    )
    name, preset, limits = parse_class(fields.model_dump())

    assert name == "Physics 3"
    assert (preset.steps, preset.n_embd, preset.n_head) == (20, 8, 2)
    assert (limits.steps_per_run, limits.runs_per_student) == (50, L.CLASS_RUNS.default)


def test_a_class_name_longer_than_the_limit_is_refused():
    with pytest.raises(ValueError, match=f"at most {L.CLASS_NAME_CHARS} characters"):
        parse_class(ClassFields(name="x" * (L.CLASS_NAME_CHARS + 1)).model_dump())


def test_parse_int_names_the_bound():
    assert parse_int(" 12 ", "steps", L.STEPS) == 12
    with pytest.raises(ValueError, match="steps must be from 1 to 10,000, got 10001"):
        parse_int("10001", "steps", L.STEPS)
    with pytest.raises(ValueError, match="steps must be a whole number from 1 to 10,000"):
        parse_int("ten", "steps", L.STEPS)


@pytest.mark.parametrize("raw", ["0", "1.5", "nan", "inf", "-0.1"])
def test_train_refuses_a_learning_rate_outside_its_bound(raw):
    with pytest.raises(ValueError, match="learning rate must be"):
        parse_lr(raw)


def test_train_keeps_the_runs_learning_rate_when_none_is_typed():
    assert parse_lr("") is None and parse_lr(None) is None and parse_lr("1") == 1.0


def test_the_pace_is_within_its_bound_or_full_speed():
    assert parse_pace("") is None and parse_pace("full") is None
    assert parse_pace(str(L.PACE.lo)) == L.PACE.lo
    with pytest.raises(ValueError, match="speed must be from 0.5 to 200 steps/s"):
        parse_pace("1000")


def test_the_temperature_is_within_its_bound():
    assert parse_temperature(str(L.TEMPERATURE.lo)) == L.TEMPERATURE.lo
    for raw in ("0.009", "2.5", "nan", "hot"):
        with pytest.raises(ValueError, match="temperature must be a number from 0.01 to 2"):
            parse_temperature(raw)


def test_a_step_is_live_when_empty_and_named_when_not_a_number():
    assert parse_step(None) is None and parse_step(" ") is None and parse_step("7") == 7
    with pytest.raises(BadInput, match="step must be a whole number"):
        parse_step("seven")
