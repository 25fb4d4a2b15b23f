"""crypto.keys and the secret-leak audit: no private number in any public output."""

from __future__ import annotations

import json
import logging
import os
import pickle
import stat

import numpy as np
import pytest
from typer.testing import CliRunner

from crypto.keys import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    KeyFileError,
    KeyFilePermissionWarning,
    Secret,
    fingerprint_file,
    generate_key_files,
    load_private_key,
    load_public_key,
    public_key_json,
    save_private_key,
    save_public_key,
)
from crypto.packing import PackedCodec
from crypto.paillier import EncryptedArray, generate_keypair
from lab.errors import CryptoError, LabError


@pytest.fixture(scope="module")
def keys():
    return generate_keypair(1024)


def test_files_round_trip_with_private_mode_0600(keys, tmp_path):
    pk, sk = keys
    pub = save_public_key(pk, tmp_path / PUBLIC_KEY_FILE)
    priv = save_private_key(sk, tmp_path / PRIVATE_KEY_FILE)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    pk2 = load_public_key(pub)
    assert pk2 == pk and pk2.hs == pk.hs
    sk2 = load_private_key(priv)
    assert sk2.decrypt(pk2.encrypt([1.5]))[0] == 1.5
    assert fingerprint_file(pub) == fingerprint_file(priv) == pk.fingerprint()
    assert json.loads(pub.read_text())["fingerprint"] == pk.fingerprint()


def test_generate_refuses_to_overwrite(tmp_path):
    pk, pub, priv = generate_key_files(tmp_path, bits=1024)
    with pytest.raises(KeyFileError, match="already exists"):
        generate_key_files(tmp_path, bits=1024)
    pk2, _, _ = generate_key_files(tmp_path, bits=1024, overwrite=True)
    assert pk2 != pk and load_public_key(pub) == pk2


def test_missing_corrupted_and_wrong_kind(keys, tmp_path):
    pk, sk = keys
    with pytest.raises(KeyFileError, match="not found"):
        load_private_key(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(KeyFileError, match="not valid JSON"):
        load_public_key(bad)
    pub = save_public_key(pk, tmp_path / PUBLIC_KEY_FILE)
    with pytest.raises(KeyFileError, match="public one"):
        load_private_key(pub)
    doc = json.loads(pub.read_text())
    doc["n"] = format(pk.n + 2, "x")
    pub.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="fingerprint"):
        load_public_key(pub)
    priv = save_private_key(sk, tmp_path / PRIVATE_KEY_FILE)
    doc = json.loads(priv.read_text())
    doc["p"] = format(int(doc["p"], 16) + 2, "x")
    priv.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="factors"):
        load_private_key(priv)


def test_loose_permissions_warn(keys, tmp_path):
    _, sk = keys
    priv = save_private_key(sk, tmp_path / PRIVATE_KEY_FILE)
    os.chmod(priv, 0o644)
    with pytest.warns(KeyFilePermissionWarning, match="chmod 600"):
        load_private_key(priv)


def test_secret_wrapper_redacts():
    s = Secret("hunter2-password")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2-password"
    with pytest.raises(TypeError):
        pickle.dumps(s)


def test_cli_generate_and_fingerprint(tmp_path):
    from lab.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["keys", "generate", "--out", str(tmp_path), "--bits", "1024"])
    assert res.exit_code == 0, res.output
    fp = load_public_key(tmp_path / PUBLIC_KEY_FILE).fingerprint()
    assert fp in res.output
    res = runner.invoke(app, ["keys", "fingerprint", str(tmp_path / PRIVATE_KEY_FILE)])
    assert res.exit_code == 0 and res.output.strip() == fp
    priv = load_private_key(tmp_path / PRIVATE_KEY_FILE)
    for secret in _secret_forms(priv):
        assert secret not in res.output


def _secret_numbers(sk) -> list[int]:
    p, q = sk.export_primes()
    lam = (p - 1) * (q - 1) // 2
    mu = pow(lam, -1, p * q)
    return [p, q, lam, mu, (p - 1) * (q - 1)]


def _secret_forms(sk) -> list[str]:
    forms = []
    for v in _secret_numbers(sk):
        forms += [str(v), format(v, "x"), format(v, "X")]
    return forms


def _secret_bytes(sk) -> list[bytes]:
    out = []
    for v in _secret_numbers(sk):
        raw = v.to_bytes((v.bit_length() + 7) // 8, "big")
        out += [raw, raw[::-1]]
    for s in _secret_forms(sk):
        out.append(s.encode())
    return out


def test_no_secret_in_any_public_output(keys, tmp_path, caplog):
    """Everything that may leave the key holder is searched for p, q, lambda, mu
    (decimal, hex, big- and little-endian bytes)."""
    pk, sk = keys
    caplog.set_level(logging.DEBUG)
    enc = pk.encrypt(np.array([1.0, -2.0, 3.5]))
    codec = PackedCodec(32, 2, max_terms=4, key_bits=1024)
    texts: list[str] = [
        repr(sk),
        str(sk),
        f"{sk}",
        repr(pk),
        str(pk),
        repr(enc),
        json.dumps(public_key_json(pk)),
        repr(codec),
    ]
    blobs: list[bytes] = [
        pk.to_bytes(),
        enc.to_bytes(),
        codec.encrypt(pk, [[1, 2]]).to_bytes(),
        enc.dot_plain(np.array([1, 2, 3])).to_bytes(),
        enc.segment_sum(np.array([0, 1, 0]), 2).to_bytes(),
    ]
    pub = save_public_key(pk, tmp_path / PUBLIC_KEY_FILE)
    blobs.append(pub.read_bytes())

    # Errors raised while a private key is at hand.
    other_pk, _ = generate_keypair(1024)
    failing = [
        lambda: sk.decrypt(other_pk.encrypt([1.0])),
        lambda: sk.decrypt(pk.encrypt_ints([pk.max_int]) + pk.encrypt_ints([pk.max_int])),
        lambda: type(sk)(other_pk, *sk.export_primes()),
        lambda: EncryptedArray.from_bytes(other_pk, enc.to_bytes()),
        lambda: load_private_key(tmp_path / "missing.json"),
        lambda: pk.encrypt([np.nan]),
    ]
    for fn in failing:
        with pytest.raises(LabError) as info:
            fn()
        texts += [str(info.value), repr(info.value), info.value.hint]
        assert isinstance(info.value, CryptoError)
    texts.append(caplog.text)

    haystack_text = "\n".join(texts)
    haystack_bytes = b"\n".join(blobs) + haystack_text.encode()
    for form in _secret_forms(sk):
        assert form not in haystack_text
    for blob in _secret_bytes(sk):
        assert blob not in haystack_bytes
    # The audit can fail: the private key file does contain the primes.
    priv = save_private_key(sk, tmp_path / PRIVATE_KEY_FILE)
    assert any(f.encode() in priv.read_bytes() for f in _secret_forms(sk))
