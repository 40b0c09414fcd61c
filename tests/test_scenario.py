"""The catalogue multiplies out into scenarios with stable, readable ids."""

from conformance.families import all_scenarios, connect, options
from conformance.scenario import Scenario


def test_connect_family_is_complete():
    # 2 protos x (3 AF_INET6 binds x 3 v6only + 2 AF_INET binds) x 4 clients
    assert len(list(connect.scenarios())) == 2 * (3 * 3 + 2) * 4


def test_ids_are_unique_and_stable():
    ids = [s.id for s in all_scenarios()]
    assert len(ids) == len(set(ids))
    assert "connect/tcp/bind=::/v6only=default/client=ipv4" in ids
    assert "connect/udp/bind=::ffff:127.0.0.1/v6only=1/client=mapped/client_v6only=0" in ids
    assert "connect/tcp/bind=0.0.0.0/client=ipv6" in ids  # AF_INET servers have no v6only


def test_test_ids_read_like_the_spec():
    s = Scenario.of("connect", proto="tcp", bind="::", v6only="0", client="ipv4")
    assert s.test_id == "tcp-bind=::-v6only=0-client=ipv4"
    assert s.id == "connect/tcp/bind=::/v6only=0/client=ipv4"


def test_options_checks_cover_both_protocols():
    ids = {s.id for s in options.scenarios()}
    assert {"options/tcp/check=default-v6only", "options/udp/check=default-v6only"} <= ids
    assert "options/tcp/check=set-v6only/after=listen/value=1" in ids
    assert "options/udp/check=set-v6only/after=listen/value=1" not in ids
