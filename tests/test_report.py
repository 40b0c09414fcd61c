"""dualstack report and dualstack diff: merging, rendering, escaping, bad input."""

import copy
import json
import re
import shutil
from pathlib import Path

import pytest

from matrix import merge, record, render
from matrix.beliefs import check_beliefs, recipes
from matrix.diff import as_markdown as diff_markdown
from matrix.diff import diff
from matrix.picture import svg
from tests.conftest import ROOT, run_dualstack


def variant_of(run_file: Path, folder: Path, variant: str, mutate=None) -> Path:
    data = json.loads(run_file.read_text())
    data["platform"]["variant"] = variant
    if mutate:
        mutate(data)
    path = folder / f"{variant}.json"
    path.write_text(json.dumps(data))
    return path


def test_report_writes_four_files_and_documented_columns(run_file, tmp_path):
    out = run_dualstack("report", str(run_file), "--out", str(tmp_path / "rep"))
    assert out.returncode == 0, out.stderr
    names = sorted(p.name for p in (tmp_path / "rep").iterdir())
    assert names == ["behavior-report.html", "behavior-report.md", "matrix.json", "matrix.svg"]
    matrix = record.load(tmp_path / "rep" / "matrix.json", "matrix-1")
    kinds = {c["key"]: c["kind"] for c in matrix["columns"]}
    assert list(kinds.values()).count("observed") == 1
    assert {"documented-windows", "documented-darwin", "documented-freebsd", "documented-openbsd"} <= set(kinds)
    md = (tmp_path / "rep" / "behavior-report.md").read_text()
    assert md.index("## Answers") < md.index("## The blog's claims, checked") < md.index("## Summary") \
        < md.index("## Platforms") < md.index("## The cells")
    assert "Documented, not observed (◇): " in md
    html = (tmp_path / "rep" / "behavior-report.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script src" not in html  # self-contained


def test_rows_where_platforms_differ_are_grouped_by_value(run_file, tmp_path):
    def flip(data):
        for r in data["results"]:
            if r["id"] == "connect/tcp/bind=::/v6only=default/client=ipv4":
                r["observed"] = {"outcome": "refused", "errno": "ECONNREFUSED"}
    runs = merge.load_runs([run_file, variant_of(run_file, tmp_path, "flipped", flip)])
    matrix = merge.merge(runs)
    row = next(r for r in matrix["rows"] if r["id"] == "connect/tcp/bind=::/v6only=default/client=ipv4")
    assert row["differs"]
    assert sorted(c["value"] for c in row["classes"]) == ["ECONNREFUSED", "ok ::ffff:127.0.0.1"]


def test_beliefs_are_judged_per_column(run_file):
    matrix = merge.merge(merge.load_runs([run_file]))
    beliefs = {b["claim"]: b for b in check_beliefs(matrix)}
    loopback = beliefs["A socket bound to ::1 also answers on 127.0.0.1."]["verdicts"][0]
    assert loopback["verdict"] == "fails"  # refused, or no ::1 to bind: never served
    mapped = beliefs["IPv4 clients appear as ::ffff:a.b.c.d on a dual-stack socket."]["verdicts"][0]
    assert mapped["verdict"] == "holds" and len(mapped["cells"]) == 2


def test_recipes_are_derived_from_the_data(run_file):
    found = {(r["kind"], r["proto"], r["bind"], r["v6only"], r["reuse"]): r
             for r in recipes(merge.merge(merge.load_runs([run_file])))}
    two_sockets = found[("two sockets", "tcp", "0.0.0.0 + ::", "1", "none")]
    assert two_sockets["everywhere"]
    assert ("one socket", "tcp", "0.0.0.0", "-", "none") not in found  # never serves IPv6


def test_markup_in_a_record_is_shown_escaped(run_file, tmp_path):
    evil = "<script>alert(1)</script>"

    def inject(data):
        data["platform"]["distribution"] = evil
        data["results"][0]["observed"]["errno"] = "E<SCRIPT>"
        data["results"][0]["observed"]["outcome"] = "connect-error"
        data["results"][0]["expected"] = {"because": evil, "source": "javascript:alert(1)", "sources": []}
    path = variant_of(run_file, tmp_path, "evil", inject)
    data = json.loads(path.read_text())
    data["results"][0]["observed"]["errno"] = "EVIL"
    path.write_text(json.dumps(data))
    matrix = merge.merge(merge.load_runs([path]))
    page = render.html(matrix)
    assert evil not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in render.markdown(matrix)


@pytest.mark.parametrize("content,message", [
    ('{"schema": "dualstack-conformance/run/1", "run": ', "not JSON"),
    ("not json at all", "not JSON"),
])
def test_broken_run_files_are_named_and_nothing_is_overwritten(run_file, tmp_path, content, message):
    out_dir = tmp_path / "rep"
    out_dir.mkdir()
    (out_dir / "matrix.json").write_text("previous")
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    out = run_dualstack("report", str(run_file), str(bad), "--out", str(out_dir))
    assert out.returncode == 2
    assert f"{bad}: {message}" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
    assert sorted(p.name for p in out_dir.iterdir()) == ["matrix.json"]
    assert (out_dir / "matrix.json").read_text() == "previous"


def test_another_schema_version_and_duplicates_are_refused(run_file, tmp_path):
    other = variant_of(run_file, tmp_path, "other", lambda d: d.update(schema="dualstack-conformance/run/2"))
    out = run_dualstack("report", str(run_file), str(other), "--out", str(tmp_path / "rep"))
    assert out.returncode == 2 and "run/2" in out.stderr and str(other) in out.stderr
    copy_path = tmp_path / "copy.json"
    shutil.copy(run_file, copy_path)
    out = run_dualstack("report", str(run_file), str(copy_path), "--out", str(tmp_path / "rep"))
    assert out.returncode == 2 and "claims the same platform and variant" in out.stderr
    assert not (tmp_path / "rep").exists()


def test_runs_that_share_os_release_python_and_variant_are_told_apart_by_what_differs():
    mac = {"os": "darwin", "release": "24.6.0", "python": "3.12.10", "variant": "default",
           "distribution": "macOS 15.6"}
    ubuntu = {"os": "linux", "release": "6.8.0-1021-azure", "python": "3.12.3", "variant": "default",
              "machine": "x86_64"}
    keys = merge.column_keys([dict(mac, machine="arm64"), dict(mac, machine="x86_64"),
                              dict(ubuntu, distribution="Ubuntu 24.04.1 LTS"),
                              dict(ubuntu, distribution="Ubuntu 22.04.5 LTS"),
                              dict(ubuntu, variant="bindv6only=1", distribution="Ubuntu 22.04.5 LTS")])
    assert keys == ["darwin-24.6.0-py3.12-default-arm64", "darwin-24.6.0-py3.12-default-x86_64",
                    "linux-6.8.0-1021-azure-py3.12-default-Ubuntu_24.04.1_LTS",
                    "linux-6.8.0-1021-azure-py3.12-default-Ubuntu_22.04.5_LTS",
                    "linux-6.8.0-1021-azure-py3.12-bindv6only=1"]  # alone under its key: no suffix


def test_two_machines_with_one_column_key_get_two_columns(run_file, tmp_path):
    other = variant_of(run_file, tmp_path, "default", lambda d: d["platform"].update(machine="riscv64"))
    matrix = merge.merge(merge.load_runs([run_file, other]))
    machines = sorted(c["key"].rsplit("-", 1)[1] for c in matrix["columns"] if c["kind"] == "observed")
    assert machines == sorted([json.loads(run_file.read_text())["platform"]["machine"], "riscv64"])


def test_diff_names_changes_and_fails_only_on_a_verdict_change(run_file, tmp_path):
    old = merge.merge(merge.load_runs([run_file]))
    new = copy.deepcopy(old)
    removed = new["rows"].pop()  # a removed test is not a regression
    key = next(c["key"] for c in new["columns"] if c["kind"] == "observed")
    new["rows"][0]["cells"][key].update(value="ECONNREFUSED", verdict="deviates", glyph="✗")
    result = diff(old, new)
    assert [c["id"] for c in result["gone"]] == [removed["id"]]
    assert len(result["changed"]) == 1 and result["changed"][0]["verdict_changed"]
    for name, data in (("old.json", old), ("new.json", new)):
        (tmp_path / name).write_text(json.dumps(data))
    out = run_dualstack("diff", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--format", "markdown")
    assert out.returncode == 1 and "| **verdict** |" in out.stdout
    same = run_dualstack("diff", str(tmp_path / "old.json"), str(tmp_path / "old.json"))
    assert same.returncode == 0 and same.stdout.startswith("0 changed, 0 new, 0 gone")
    bad = run_dualstack("diff", str(tmp_path / "old.json"), str(run_file))
    assert bad.returncode == 2 and "is not 'dualstack-conformance/matrix/1'" in bad.stderr


def test_the_page_stores_each_distinct_cell_once_and_loses_nothing(run_file, tmp_path):
    runs = merge.load_runs([run_file, variant_of(run_file, tmp_path, "same")])
    matrix = merge.merge(runs)
    page = render.page_data(matrix)
    for row, page_row in zip(matrix["rows"], page["rows"], strict=True):
        assert page_row["reproducer"] == row["reproducer"] and page_row["test_id"] == row["test_id"]
        for key, cell in row["cells"].items():
            stored = page["cells"][page_row["cells"][key]]
            assert {k: stored[k] for k in cell} == cell  # and how it reads: behaviour, badge, confidence
            assert set(stored) - set(cell) == {"behaviour", "badge", "low"}
    observed = sum(len(r["cells"]) for r in matrix["rows"])
    assert len(page["cells"]) < observed * 0.6  # the two identical columns share their cells


def test_the_job_summary_keeps_whole_sections_under_the_limit():
    report = "# Report\n\nintro\n\n## Summary\n\n" + "x" * 300 + "\n\n## Beliefs\n\n" + "y" * 600 + "\n\n## Tables\n\nz\n"
    assert render.step_summary(report, limit=10_000) == report
    cut = render.step_summary(report, limit=1_000)
    assert cut.startswith("# Report") and "x" * 300 in cut and "yy" not in cut
    assert cut.rstrip().endswith("Left out to fit a job summary (see behavior-report.md): Beliefs, Tables.*")
    assert len(cut.encode()) <= 1_000


def test_report_appends_to_the_step_summary(run_file, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    out = run_dualstack("report", str(run_file), "--out", str(tmp_path / "rep"), "--step-summary", str(summary))
    assert out.returncode == 0, out.stderr
    text = summary.read_text()
    assert text.startswith("earlier step\n# Dual-stack socket behaviour report") and "## Answers" in text
    out = run_dualstack("report", str(run_file), "--out", str(tmp_path / "rep"),
                        "--step-summary", str(tmp_path / "missing" / "summary.md"))
    assert out.returncode == 2 and "--step-summary" in out.stderr and "Traceback" not in out.stderr


def on_build(run_file: Path, folder: Path, release: str, mutate=None) -> Path:
    """The run record as the same runner image would write it after an update that
    brought another kernel build: only the release (and version) differ."""
    data = json.loads(run_file.read_text())
    data["platform"].update(release=release, version=f"#1 SMP {release}")
    if mutate:
        mutate(data)
    (folder / release).mkdir()
    path = folder / release / "run.json"
    path.write_text(json.dumps(data))
    return path


def test_an_image_update_with_a_new_kernel_build_is_diffed_cell_by_cell(run_file, tmp_path):
    """The weekly diff's case: same image, Python, variant; the kernel went from build
    v657 to v669. Nothing is gone or new; the release change is reported as data."""
    for release in ("6.18.44-fc-v657", "6.18.44-fc-v669"):
        matrix = merge.merge(merge.load_runs([on_build(run_file, tmp_path, release)]))
        (tmp_path / f"{release}.json").write_text(json.dumps(matrix))
    out = run_dualstack("diff", str(tmp_path / "6.18.44-fc-v657.json"), str(tmp_path / "6.18.44-fc-v669.json"))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("0 changed, 0 new, 0 gone\n")
    assert "6.18.44-fc-v657 -> 6.18.44-fc-v669" in out.stdout


def test_a_verdict_that_changes_with_the_image_update_is_a_change_not_a_new_cell(run_file, tmp_path):
    def deviate(data):
        data["results"][0].update(verdict="deviates", reproducer=data["results"][0].get("reproducer") or "x")
        data["results"][0]["expected"] = dict(data["results"][0]["expected"] or {}, source="https://example.invalid")
    old = merge.merge(merge.load_runs([on_build(run_file, tmp_path, "24.5.0")]))
    new = merge.merge(merge.load_runs([on_build(run_file, tmp_path, "24.6.0", deviate)]))
    result = diff(old, new)
    assert not result["new"] and not result["gone"]
    assert [c["verdict_changed"] for c in result["changed"]] == [True]
    md = diff_markdown(result)
    assert "> [!WARNING]" in md and "1 cell(s) changed their verdict" in md


def test_the_markdown_diff_stays_short_when_a_whole_column_goes(run_file, tmp_path):
    old = merge.merge(merge.load_runs([run_file]))
    new = merge.merge(merge.load_runs([variant_of(run_file, tmp_path, "renamed")]))
    result = diff(old, new)
    assert len(result["gone"]) == len(old["rows"]) > 10
    md = diff_markdown(result, limit=10)
    assert md.count("| gone |") == 10 and f"| … | {len(result['gone']) - 10} more |" in md
    assert f"0 changed, {len(result['new'])} new, {len(result['gone'])} gone" in md


@pytest.fixture(scope="module")
def committed() -> dict:
    """The matrix of this machine's committed records, documented columns included, as
    dualstack report builds it."""
    from conformance.documented import documented_columns
    runs = merge.load_runs(sorted((ROOT / "reports" / "runs").glob("*.json")))
    return merge.merge(runs, documented_columns({data["platform"]["os"] for _, data in runs}))


def sections(md: str) -> dict[str, str]:
    return {part.splitlines()[0]: part.split("\n", 1)[1] for part in md.split("\n## ")[1:]}


def test_the_markdown_opens_with_the_answers_and_stays_small_for_github(committed):
    md = render.markdown(committed)
    found = sections(md)
    assert list(found)[:4] == ["Answers", "The blog's claims, checked", "Summary", "Platforms"]
    assert all(body.strip() for body in found.values())  # no empty section
    assert len(md.encode()) < 100_000
    assert "[behavior-report.html](behavior-report.html)" in md
    answers_table = found["Answers"]
    assert "| Does a TCP socket on \\[::\\] serve an IPv4 client (IPV6_V6ONLY left alone)? |" in answers_table
    assert "`*:P v6only:0`" in answers_table and "`[::]:P v6only:1`" in answers_table


def test_code_spans_hold_no_html_entities_and_ranges_are_words(committed):
    md = render.markdown(committed)
    spans = re.findall(r"(`+)(.+?)\1", md)
    assert spans and not [text for _, text in spans if re.search(r"&#?\w+;", text)]
    assert any("[::]" in text for _, text in spans)  # shown as it is, not as &#91;::&#93;
    summary = sections(md)["Summary"]
    assert re.search(r"\| \d+ \| \d+ conform · \d+ informational · \d+ cannot run", summary)  # words, not "✓ 352 – 72"


def test_the_svg_is_a_picture_of_the_answers(committed):
    picture = svg(committed)
    assert picture.count("<rect") > 15 * len(committed["columns"])  # a cell per question and platform
    assert "conflict at bind" in picture and "◇" in picture and "not documented" in picture


def test_a_runtime_is_a_column_of_its_own_in_the_weekly_diff():
    host = {"os": "linux", "release": "6.18.44", "python": "3.12.1", "variant": "default", "machine": "x86_64",
            "implementation": "CPython", "distribution": "Ubuntu 24.04"}
    gvisor = dict(host, release="gvisor-2025.01", runtime={"name": "gvisor", "version": "2025.01"})
    newer = dict(gvisor, release="gvisor-2025.06", runtime={"name": "gvisor", "version": "2025.06"})
    assert merge.stable_key(host) != merge.stable_key(gvisor) == merge.stable_key(newer)
