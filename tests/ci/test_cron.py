"""Jenkins' cron syntax (dockyard.ci.cron): fields, H hashing bit for bit as Jenkins computes it,
tokens, TZ, comments, and Jenkins' refusals."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dockyard.ci.cron import CronError, jenkins_hash, parse_cron

# java.util.Random seeded as hudson.scheduler.Hash.from(seed) does, drawing nextInt(b) for these
# bounds in order: computed with OpenJDK 17 (the program in test_hash_matches_java runs it again
# where a JDK is installed)
BOUNDS = (60, 24, 28, 12, 7, 15, 30, 5, 3, 1000000007, 1 << 20)
JAVA = {
    "nightly": (1, 17, 10, 10, 1, 9, 17, 4, 2, 2183966, 237293),
    "my-job": (18, 17, 20, 5, 1, 6, 2, 3, 2, 317678316, 164886),
    "folder/app": (13, 6, 8, 9, 3, 5, 22, 3, 2, 209486352, 223083),
    "ünï": (20, 1, 9, 6, 1, 12, 17, 2, 1, 243540347, 580582),
}


def bits(*values: int) -> int:
    return sum(1 << v for v in values)


@pytest.mark.parametrize("seed", list(JAVA))
def test_hash_sequence_is_javas(seed: str) -> None:
    h = jenkins_hash(seed)
    assert tuple(h.next(b) for b in BOUNDS) == JAVA[seed]


def test_hash_matches_java(tmp_path: Path) -> None:
    """Runs Jenkins' Hash.from algorithm on a real JVM and compares (skipped without a JDK)."""
    if not (shutil.which("javac") and shutil.which("java")):
        pytest.skip("no JDK on this machine: the recorded vectors above still apply")
    (tmp_path / "H.java").write_text(
        """import java.security.MessageDigest; import java.nio.charset.StandardCharsets;
import java.util.Random;
public class H { public static void main(String[] a) throws Exception {
  MessageDigest md5 = MessageDigest.getInstance("MD5"); md5.update(a[0].getBytes(StandardCharsets.UTF_8));
  byte[] d = md5.digest(); for (int i=8;i<d.length;i++) d[i%8]^=d[i];
  long l=0; for (int i=0;i<8;i++) l=(l<<8)+(d[i]&0xFF);
  Random r = new Random(l); StringBuilder sb = new StringBuilder();
  for (int i=1;i<a.length;i++) sb.append(r.nextInt(Integer.parseInt(a[i]))).append(' ');
  System.out.println(sb.toString().trim()); } }
"""
    )
    subprocess.run(["javac", "H.java"], cwd=tmp_path, check=True)
    bounds = [60, 24, 28, 12, 7, 7, 1 << 30, 1000000007, 999, 2]
    for seed in ("a-job-of-mine", "release/nightly"):
        out = subprocess.run(
            ["java", "-cp", str(tmp_path), "H", seed, *map(str, bounds)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        h = jenkins_hash(seed)
        assert [h.next(b) for b in bounds] == [int(x) for x in out]


def test_h_fields_draw_in_order_from_the_job_name() -> None:
    (tab,) = parse_cron("H H H H H", "nightly").tabs
    # nextInt(60)=1, nextInt(24)=17, 1+nextInt(28)=11, 1+nextInt(12)=11, nextInt(7)=1
    assert (tab.minutes, tab.hours, tab.days, tab.months, tab.weekdays) == (
        bits(1),
        bits(17),
        bits(11),
        bits(11),
        bits(1),
    )
    # the same Random carries on over the next line, as CronTabList shares one Hash
    second = parse_cron("H H H H H\nH * * * *", "nightly").tabs[1]
    h = jenkins_hash("nightly")
    for bound in (60, 24, 28, 12, 7):
        h.next(bound)
    assert second.minutes == bits(h.next(60))
    assert parse_cron("H H * * *", "nightly").tabs[0].hours == bits(17)
    assert parse_cron("H H * * *", "other").tabs[0] != parse_cron("H H * * *", "nightly").tabs[0]


def test_h_with_step_and_range() -> None:
    # nightly's first nextInt(15) is not its nextInt(60): draw it the same way
    first = jenkins_hash("nightly").next(15)
    (tab,) = parse_cron("H/15 * * * *", "nightly").tabs
    assert tab.minutes == bits(*range(first, 60, 15))
    (ranged,) = parse_cron("H(0-29) * * * *", "nightly").tabs
    assert ranged.minutes == bits(jenkins_hash("nightly").next(30))
    (both,) = parse_cron("H(10-39)/10 * * * *", "nightly").tabs
    offset = jenkins_hash("nightly").next(10)
    assert both.minutes == bits(*range(10 + offset, 40, 10))


def test_plain_fields_ranges_steps_lists() -> None:
    (tab,) = parse_cron("0,30 8-18/2 1 */3 1-5", "x").tabs
    assert tab.minutes == bits(0, 30)
    assert tab.hours == bits(8, 10, 12, 14, 16, 18)
    assert tab.days == bits(1)
    assert tab.months == bits(1, 4, 7, 10)
    assert tab.weekdays == bits(1, 2, 3, 4, 5)
    assert parse_cron("* * * * 7").tabs[0].weekdays == bits(0)  # 7 is Sunday


def test_tokens_are_hashed_like_jenkins() -> None:
    daily = parse_cron("@daily", "nightly").tabs[0]  # H H * * *
    assert (daily.minutes, daily.hours) == (bits(1), bits(17))
    midnight = parse_cron("@midnight", "nightly").tabs[0]  # H H(0-2) * * *
    assert midnight.minutes == bits(1) and midnight.hours == bits(_second_draw("nightly", 60, 3))
    hourly = parse_cron("@hourly", "nightly").tabs[0]
    assert hourly.minutes == bits(1) and hourly.hours == bits(*range(24))
    for token in ("@yearly", "@annually", "@monthly", "@weekly"):
        assert parse_cron(token, "nightly").tabs


def _second_draw(seed: str, first: int, second: int) -> int:
    h = jenkins_hash(seed)
    h.next(first)
    return h.next(second)


def test_matching_and_all_fields_anded() -> None:
    spec = parse_cron("30 2 * * 1", "x")  # 02:30 on Mondays
    assert spec.matches(datetime(2026, 12, 7, 2, 30, 59, tzinfo=UTC))  # a Monday
    assert not spec.matches(datetime(2026, 12, 8, 2, 30, tzinfo=UTC))
    # Jenkins ANDs day of month and day of week (Vixie cron would OR them)
    both = parse_cron("0 0 1 * 1")
    assert not both.matches(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))  # the 1st, a Tuesday


def test_timezone_line_comments_and_blank_lines() -> None:
    spec = parse_cron("TZ=Europe/Paris\n# nightly\n\n0 3 * * *\n", "x")
    assert spec.zone == "Europe/Paris"
    assert spec.matches(datetime(2026, 12, 8, 2, 0, tzinfo=UTC))  # 03:00 in Paris (CET)
    assert not spec.matches(datetime(2026, 12, 8, 3, 0, tzinfo=UTC))
    assert parse_cron("# nothing\n").tabs == ()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "61 * * * *",
            'Invalid input: "61 * * * *": line 1:0: 61 is an invalid value. Must be within 0 and 59',
        ),
        ("* 24 * * *", "line 1:2: 24 is an invalid value. Must be within 0 and 23"),
        ("* * 0 * *", "0 is an invalid value. Must be within 1 and 31"),
        ("5-1 * * * *", "line 1:0: You mean 1-5?"),
        ("*/0 * * * *", "step must be positive, but found 0"),
        ("H(50-10) * * * *", "H(50-10) is reversed: you mean H(10-50)?"),
        ("H/61 * * * *", "61 is an invalid value. Must be within 1 and 60"),
        ("H(0-70) * * * *", "70 is an invalid value. Must be within 0 and 59"),
        ("* * * *", "expected 5 fields (minute hour day-of-month month day-of-week), found 4"),
        ("* * * * * *", "found more"),
        ("x * * * *", "token recognition error at: 'x'"),
        ("@fortnightly", "token recognition error at: 'f'"),
        ("@ daily", "unknown token '@ '"),
        ("H(1-2 * * * *", "mismatched input ' ' expecting ')'"),
        ("99999999999 * * * *", "is an invalid value. Must be within 0 and 59"),
        ("TZ=../../etc/passwd\n* * * * *", "Invalid or unsupported timezone '../../etc/passwd'"),
        ("TZ=Europe\n* * * * *", "Invalid or unsupported timezone 'Europe'"),  # a directory of tzdata
        ("TZ=" + "a" * 300 + "\n* * * * *", "Invalid or unsupported timezone 'aaa"),  # too long for a file
        ("1," * 3000, "at most 4096 are allowed"),
        ("#\n" * 200, "at most 100 are allowed"),
    ],
)
def test_refusals_use_jenkins_words(spec: str, message: str) -> None:
    with pytest.raises(CronError) as info:
        parse_cron(spec, "x")
    assert message in str(info.value)
