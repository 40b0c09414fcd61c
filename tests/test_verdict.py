"""A cell's verdict: conforms when the observation matches, deviates when it differs."""

from conformance.observation import Observation
from conformance.platform_model import Expectation, Reason
from conformance.verdict import judge

SOURCE = Reason("because", "https://example.invalid/doc")


def test_matching_observation_conforms():
    e = Expectation(outcome=("ok",), fields={"peer": "::ffff:127.0.0.1"}, reasons=[SOURCE])
    assert judge(Observation(outcome="ok", peer="::ffff:127.0.0.1"), e) == ("conforms", [])


def test_different_outcome_deviates():
    e = Expectation(outcome=("refused",), errno="ECONNREFUSED", reasons=[SOURCE])
    verdict, found = judge(Observation(outcome="ok", peer="::ffff:127.0.0.1"), e)
    assert verdict == "deviates"
    assert [(d.field, d.expected, d.observed) for d in found] == [
        ("outcome", "refused", "ok"), ("errno", "ECONNREFUSED", None)]


def test_different_peer_form_deviates():
    e = Expectation(outcome=("ok",), fields={"peer": "::ffff:127.0.0.1"}, reasons=[SOURCE])
    verdict, found = judge(Observation(outcome="ok", peer="127.0.0.1"), e)
    assert verdict == "deviates" and found[0].field == "peer"


def test_addresses_compare_by_value_not_spelling():
    e = Expectation(outcome=("ok",), fields={"peer": "::ffff:127.0.0.1"}, reasons=[SOURCE])
    assert judge(Observation(outcome="ok", peer="0:0:0:0:0:ffff:7f00:1"), e)[0] == "conforms"


def test_any_of_several_outcomes_conforms():
    e = Expectation(outcome=("unreachable", "connect-error"), reasons=[SOURCE])
    assert judge(Observation(outcome="connect-error", errno="EFAULT"), e)[0] == "conforms"
    assert judge(Observation(outcome="ok"), e)[0] == "deviates"


def test_unsupported_and_informational_kinds():
    unsupported = Expectation(kind="unsupported", outcome=("option-error",), errno="EINVAL", reasons=[SOURCE])
    assert judge(Observation(outcome="option-error", errno="EINVAL"), unsupported)[0] == "unsupported"
    assert judge(Observation(outcome="ok"), unsupported)[0] == "deviates"
    assert judge(Observation(outcome="ok"), Expectation(kind="informational"))[0] == "informational"
