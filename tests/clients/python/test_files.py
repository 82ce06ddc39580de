"""dynclamp.files: specs and protocols from files, their text and dicts. A
wrong field or value is refused before anything is sent, naming the field as
the user wrote it and the reason."""
import glob
import os

import pytest

from conftest import EXAMPLES

import dynclamp
from dynclamp import files


def refused(source, parse=files.spec):
    with pytest.raises(dynclamp.InvalidArgument) as e:
        parse(source)
    return e.value.field, e.value.message


def gaba(**ligand_gated):
    return {"conductances": [{"name": "gaba", "cell": "cell0",
                              "ligand_gated": ligand_gated}]}


@pytest.mark.parametrize("source, field, reason", [
    (gaba(g_max_ns="a"), "conductances[0].ligand_gated.g_max_ns",
     "expected a number, got 'a'"),
    (gaba(g_max_ns=[1]), "conductances[0].ligand_gated.g_max_ns",
     "expected a number, got a list"),
    (gaba(g_max_ns=float("nan")), "conductances[0].ligand_gated.g_max_ns",
     "must be a finite number, got nan"),
    (gaba(g_max_ns="Infinity"), "conductances[0].ligand_gated.g_max_ns",
     "must be a finite number, got 'Infinity'"),
    (gaba(mode="BOGUS"), "conductances[0].ligand_gated.mode",
     "'BOGUS' is not one of MODE_UNSPECIFIED, TRIGGERED, CONTINUOUS"),
    (gaba(applied="yes"), "conductances[0].ligand_gated.applied",
     "expected true or false, got 'yes'"),
    (gaba(gMaxNss=3), "conductances[0].ligand_gated.gMaxNss",
     "no such field in LigandGatedConductance"),
    ({"conductances": [{"name": 7}]}, "conductances[0].name",
     "expected text, got 7 (quote it)"),
    ({"conductances": {"name": "x"}}, "conductances",
     "expected a list, got a mapping"),
    ({"conductances": ["x"]}, "conductances[0]",
     "expected a mapping of fields of Conductance, got 'x'"),
    ({"conductances": [{"name": "x", "ligand_gated": {}, "constant": {}}]},
     "conductances[0].constant",
     "give one of constant, ligand_gated, hh, preset, not both "
     "'ligand_gated' and 'constant'"),
])
def test_a_wrong_field_is_named_with_its_reason(source, field, reason):
    got_field, message = refused(source)
    assert got_field == field
    assert message.startswith(f"spec: {field}: {reason}")


def test_whole_numbers_and_protocols():
    field, message = refused(
        {"name": "p", "test_pulse": {"cell": "cell0", "count": 2.5}},
        files.protocol)
    assert field == "test_pulse.count"
    assert "expected a whole number, got 2.5" in message
    # lowerCamelCase and numbers written as text are the JSON mapping's.
    p, _ = files.protocol({"name": "p", "testPulse": {"cell": "cell0",
                                                      "amplitudePa": "-50"}})
    assert p.test_pulse.amplitude_pa == -50


def test_file_text_is_parsed_as_the_file_and_kept():
    with open(os.path.join(EXAMPLES, "gaba_step.yaml")) as f:
        text = f.read()
    from_text, kept = files.spec(files.Text(text, "dropped.yaml"))
    from_file, _ = files.spec(os.path.join(EXAMPLES, "gaba_step.yaml"))
    assert from_text == from_file and kept == text
    field, message = refused(files.Text("conductances: [{name: 1}]",
                                        "dropped.yaml"))
    assert field == "conductances[0].name"
    assert message.startswith("dropped.yaml: conductances[0].name:")
    _, message = refused(files.Text("conductances: [", "dropped.yaml"))
    assert message.startswith("dropped.yaml: ")
    field, message = refused([1, 2])
    assert field is None and "expected a mapping of fields of Spec" in message


def test_every_example_parses():
    for path in glob.glob(os.path.join(EXAMPLES, "*.yaml")):
        parse = files.session if "session" in path else files.spec
        assert parse(path) is not None, path
    for path in glob.glob(os.path.join(EXAMPLES, "protocols", "*.yaml")):
        files.protocol(path)
