from pipeline.sla.clock import CaseState
from pipeline.sla.opencases import OpenCases, open_key


def test_open_key_of_open_finished_and_missing_cases() -> None:
    assert open_key(CaseState("c", priority="P2", queue="billing")) == ("P2", "billing")
    assert open_key(CaseState("c", priority="P2", queue=None)) == ("P2", "none")
    assert open_key(CaseState("c", status="responded", queue="q")) == ("P3", "q")
    for status in ("resolved", "closed", "merged"):
        assert open_key(CaseState("c", status=status)) is None
    assert open_key(None) is None


def test_moves_between_keys_and_out() -> None:
    counts = OpenCases()
    counts.move(None, ("P1", "a"))
    counts.move(None, ("P1", "a"))
    counts.move(("P1", "a"), ("P2", "a"))  # re-prioritised
    assert counts.counts() == {("P1", "a"): 1, ("P2", "a"): 1}
    counts.move(("P1", "a"), None)
    counts.move(("P2", "a"), ("P2", "a"))
    assert counts.counts() == {("P2", "a"): 1}


def test_a_move_out_of_an_unknown_key_never_goes_negative() -> None:
    counts = OpenCases()  # e.g. a case applied before the rebuild recounted
    counts.move(("P1", "a"), None)
    assert counts.counts() == {}
