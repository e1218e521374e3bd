"""The masking writer: every secret form, split anywhere across writes, is replaced by ****."""

from __future__ import annotations

import base64
import io
import json
import threading
from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from dockyard.credentials import DockerConfig, MaskingWriter, SecretMasker, UsernamePassword

SECRET = "bootcamp-S3cr3t/+=&"


def stream(masker: SecretMasker, chunks: list[bytes]) -> bytes:
    out = io.BytesIO()
    with MaskingWriter(out, masker) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return out.getvalue()


def test_plain_secret_is_masked() -> None:
    masker = SecretMasker([SECRET])
    assert masker.mask(f"password={SECRET}\n".encode()) == b"password=****\n"


def test_encoded_forms_are_masked() -> None:
    masker = SecretMasker([SECRET])
    for form in (
        base64.b64encode(SECRET.encode()).decode(),
        base64.b64encode(SECRET.encode()).decode().rstrip("="),
        base64.urlsafe_b64encode(SECRET.encode()).decode(),
        quote(SECRET, safe=""),
        quote(SECRET),
        quote_plus(SECRET),
        json.dumps(SECRET),
    ):
        masked = masker.mask_text(f"x {form} y")
        assert SECRET not in masked and form.strip('"=') not in masked, form
        assert masked.startswith("x ") and masked.endswith(" y")


def test_docker_config_auth_field_and_password_are_masked() -> None:
    cred = DockerConfig.for_registry("harbor-auth", "10.0.24.28:30002", "admin", "bootcamp")
    masker = SecretMasker(cred.mask_values())
    config = cred.data()[".dockerconfigjson"]
    masked = masker.mask(config)
    assert b"bootcamp" not in masked
    assert base64.b64encode(b"admin:bootcamp") not in masked
    assert b'"username": "admin"' in masked  # the user name is not a secret
    # a log that prints the auth field without padding, and the k8s-style base64 of the whole file
    assert masker.mask(b"auth=YWRtaW46Ym9vdGNhbXA") == b"auth=****"
    assert masker.mask(base64.b64encode(config)) == b"****"


def test_basic_auth_header_of_username_password_is_masked() -> None:
    cred = UsernamePassword("gitea", username="bootcamp", password="hunter22")
    header = "Authorization: Basic " + base64.b64encode(b"bootcamp:hunter22").decode()
    assert SecretMasker(cred.mask_values()).mask_text(header) == "Authorization: Basic ****"


def test_short_values_are_not_masked() -> None:
    masker = SecretMasker(["abc", "on"])
    assert masker.mask(b"abc on") == b"abc on"
    assert masker.longest == 0


def test_multiline_secret_lines_are_masked_one_by_one() -> None:
    key = "-----BEGIN KEY-----\nQUJDREVGR0hJSktMTU5PUA==\nUVJTVFVWV1hZWjAxMjM0NQ==\n-----END KEY-----\n"
    masker = SecretMasker([key])
    assert masker.mask(key.encode()) == b"****"
    assert masker.mask(b"line: UVJTVFVWV1hZWjAxMjM0NQ==\n") == b"line: ****\n"


def test_secret_split_across_writes() -> None:
    masker = SecretMasker([SECRET])
    data = f"before {SECRET} after".encode()
    for cut in range(len(data) + 1):
        assert stream(masker, [data[:cut], data[cut:]]) == b"before **** after", cut


def test_one_byte_writes() -> None:
    masker = SecretMasker([SECRET, "another-secret"])
    data = f"{SECRET}{SECRET} x another-secret".encode()
    assert stream(masker, [bytes([b]) for b in data]) == b"******** x ****"


def test_output_is_not_held_back_without_need() -> None:
    """Live logs stay live: only a possible secret prefix is kept back."""
    out: list[bytes] = []
    writer = SecretMasker([SECRET]).writer(out.append)
    writer.write(b"step 1 done\n")
    assert b"".join(out) == b"step 1 done\n"
    writer.write(b"token: boot")
    assert b"".join(out) == b"step 1 done\ntoken: "
    writer.write(b"strap\n")
    assert b"".join(out) == b"step 1 done\ntoken: bootstrap\n"
    writer.write(b"boot")
    writer.close()
    assert b"".join(out).endswith(b"boot")


def test_overlapping_secrets_prefer_the_longest() -> None:
    masker = SecretMasker(["abcdefgh", "cdef"])
    assert stream(masker, [b"xxab", b"cdefgh", b" cdef"]) == b"xx**** ****"
    assert masker.mask(b"abcdefgh") == b"****"


def test_add_secrets_mid_stream() -> None:
    out = io.BytesIO()
    writer = MaskingWriter(out, SecretMasker())
    writer.write(b"early-secret stays\n")
    writer.add_secrets(["late-secret"])
    writer.write(b"late-secret is hidden\n")
    writer.close()
    assert out.getvalue() == b"early-secret stays\n**** is hidden\n"


def test_writer_accepts_str_and_callables_and_is_thread_safe() -> None:
    out: list[bytes] = []
    writer = SecretMasker([SECRET]).writer(out.append)
    lines = [f"thread {i}: {SECRET}\n" for i in range(8)]

    def work(line: str) -> None:
        for _ in range(50):
            writer.write(line)

    threads = [threading.Thread(target=work, args=(line,)) for line in lines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    text = b"".join(out).decode()
    assert SECRET not in text and text.count("****") == 400


SECRETS = st.lists(
    st.binary(min_size=4, max_size=12).filter(lambda b: b.strip() == b), min_size=1, max_size=3
)


@settings(max_examples=150, deadline=None)
@given(
    secrets=SECRETS,
    noise=st.lists(st.binary(max_size=8), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8),
)
def test_streaming_equals_whole_string_masking(
    secrets: list[bytes], noise: list[bytes], cuts: list[int]
) -> None:
    """For any split points, the streamed output equals masking the whole text at once."""
    data = b""
    for i, part in enumerate(noise):
        data += part + secrets[i % len(secrets)]
    masker = SecretMasker(secrets)
    points = sorted({min(c, len(data)) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    streamed = stream(masker, chunks)
    assert streamed == masker.mask(data)
    for secret in secrets:
        if b"*" not in secret:  # output is unmatched input plus "****": no secret can survive
            assert secret not in streamed


@settings(max_examples=60, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(codec="utf-8"), min_size=4, max_size=20).filter(str.strip),
    cut=st.integers(min_value=0, max_value=100),
)
def test_base64_of_any_secret_is_masked_across_a_split(secret: str, cut: int) -> None:
    encoded = base64.b64encode(secret.encode())
    data = b"value=" + encoded + b";"
    cut = min(cut, len(data))
    streamed = stream(SecretMasker([secret]), [data[:cut], data[cut:]])
    assert encoded.rstrip(b"=") not in streamed


def test_long_secret_split_at_every_point() -> None:
    """Forms longer than the prefix index (base64 of a 120-byte key) still hold back correctly."""
    secret = "k3y-" + "0123456789abcdef" * 7 + "-end"
    masker = SecretMasker([secret])
    encoded = base64.b64encode(secret.encode())
    for payload in (secret.encode(), encoded):
        data = b"pre " + payload + b" post"
        for cut in range(len(data) + 1):
            assert stream(masker, [data[:cut], data[cut:]]) == b"pre **** post", (payload[:10], cut)
    near_miss = secret[:-1].encode() + b"X"  # its 16-byte hexdump slices are still masked
    streamed = stream(masker, [near_miss[:100], near_miss[100:]])
    assert streamed == masker.mask(near_miss) and streamed.endswith(b"cdef-enX")
    other = b"k3y-" + b"0123456789ABCDEF" * 7 + b"-end"
    assert stream(masker, [other[:100], other[100:]]) == other


def test_big_secret_files_are_masked_by_line_and_binary_ones_by_base64() -> None:
    from dockyard.credentials import SecretFile

    lines = [f"line-{i:05d}-{'x' * 40}" for i in range(600)]
    big = SecretFile("big", filename="big.txt", content="\n".join(lines).encode())
    masker = SecretMasker(big.mask_values())
    assert masker.longest < 200  # never holds back the whole 30 KB file
    assert masker.mask(f"{lines[42]}\n".encode()) == b"****\n"
    binary = SecretFile("bin", filename="k.bin", content=bytes(range(256)) * 2)
    encoded = base64.b64encode(binary.content)
    assert SecretMasker(binary.mask_values()).mask(b"k=" + encoded) == b"k=****"


def _dumps(secret: str) -> list[bytes]:
    """What `rev`, `sed 's/./& /g'`, od, hexdump and xxd print for `secret` (the real tools)."""
    import shutil
    import subprocess

    commands = [["rev"], ["sed", "s/./& /g"], ["od", "-tx1"], ["od", "-An", "-tx1"], ["od", "-c"],
                ["hexdump", "-C"], ["xxd", "-p"]]
    out = []
    for command in commands:
        if shutil.which(command[0]):
            stdin = secret.encode() + (b"\n" if command[0] in ("rev", "sed") else b"")
            out.append(subprocess.run(command, input=stdin, capture_output=True, check=True).stdout)
    return out


@settings(max_examples=40, deadline=None)
@given(
    secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=6, max_size=40),
    cut=st.integers(min_value=0, max_value=400),
)
def test_reversed_spaced_and_hex_dumped_secrets_are_masked_across_a_split(secret: str, cut: int) -> None:
    """Every 16-byte od/hexdump line of the secret (6 bytes or more), its reverse, its spaced
    form and its hex (both cases) are hidden, however the stream is cut."""
    raw = secret.encode()
    masker = SecretMasker([secret])
    lines = [raw[i : i + 16] for i in range(0, len(raw), 16) if len(raw[i : i + 16]) >= 6]
    clear = [raw[::-1], " ".join(secret).encode(), raw.hex().encode(), raw.hex().upper().encode()]
    clear += [line.hex(" ").encode() for line in lines]
    clear += [b"   ".join(bytes([c]) for c in line) for line in lines]
    clear += [raw[i : i + 30].hex().encode() for i in range(0, len(raw), 30) if len(raw) - i >= 6]
    data = b"x " + b" | ".join([*clear, *_dumps(secret)]) + b" y"
    cut = min(cut, len(data))
    streamed = stream(masker, [data[:cut], data[cut:]])
    assert streamed == masker.mask(data)
    for form in clear:
        assert form not in streamed, form


def test_short_values_are_not_dumped_forms() -> None:
    """Under MIN_DUMPED characters only the value itself is masked: `abc12`'s reverse or hex are
    common strings in every log."""
    masker = SecretMasker(["abc12"])
    assert masker.mask(b"abc12 21cba 6162633132") == b"**** 21cba 6162633132"
