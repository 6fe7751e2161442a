"""The knowledge vault's encryption at rest (memsvc.security.vault)."""

from __future__ import annotations

import base64
import stat

import pytest

from memsvc.security import Vault, VaultError, generate_key, load_or_create_key

SECRET = "sk-live-0123456789 — pässwörd"


def test_round_trip():
    vault = Vault.from_keys([generate_key()])
    assert vault.enabled
    token = vault.encrypt(SECRET)
    assert isinstance(token, bytes)
    assert SECRET.encode() not in token
    assert vault.decrypt(token) == SECRET
    assert vault.encrypt(SECRET) != token  # a fresh IV each time


def test_rotation_keeps_old_tokens_readable_and_rotate_moves_them_to_the_new_key():
    old, new = generate_key(), generate_key()
    token_old = Vault.from_keys([old]).encrypt(SECRET)

    rotated_vault = Vault.from_keys([new, old])
    assert rotated_vault.decrypt(token_old) == SECRET  # the old key still decrypts

    token_new = rotated_vault.rotate(token_old)
    assert Vault.from_keys([new]).decrypt(token_new) == SECRET  # the old key can go now
    with pytest.raises(VaultError):
        Vault.from_keys([old]).decrypt(token_new)
    # The newest key is the one that encrypts.
    assert Vault.from_keys([new]).decrypt(rotated_vault.encrypt(SECRET)) == SECRET


def test_wrong_key_raises_vault_error():
    token = Vault.from_keys([generate_key()]).encrypt(SECRET)
    with pytest.raises(VaultError) as err:
        Vault.from_keys([generate_key()]).decrypt(token)
    assert SECRET not in str(err.value)
    with pytest.raises(VaultError):
        Vault.from_keys([generate_key()]).rotate(token)


@pytest.mark.parametrize("where", [10, 40, -5])
def test_tampered_token_raises_vault_error(where):
    vault = Vault.from_keys([generate_key()])
    raw = bytearray(base64.urlsafe_b64decode(vault.encrypt(SECRET)))
    raw[where] ^= 0x01
    with pytest.raises(VaultError):
        vault.decrypt(base64.urlsafe_b64encode(bytes(raw)))


@pytest.mark.parametrize("token", [b"", b"not a token", "\u00e9".encode()])
def test_garbage_raises_vault_error(token):
    with pytest.raises(VaultError):
        Vault.from_keys([generate_key()]).decrypt(token)


def test_repr_never_shows_a_key():
    keys = [generate_key(), generate_key()]
    vault = Vault.from_keys(keys)
    for text in (repr(vault), str(vault), f"{vault}"):
        assert all(k not in text for k in keys)
        assert all(k[:8] not in text for k in keys)
    assert repr(vault) == "Vault(keys=2)"


def test_no_keys_means_disabled():
    vault = Vault.from_keys([])
    assert not vault.enabled
    with pytest.raises(VaultError):
        vault.encrypt(SECRET)


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-key-but-a-long-enough-secret-looking-string",  # not base64 of 32 bytes
        base64.urlsafe_b64encode(b"k" * 16).decode(),  # base64, wrong length
        "Zm9v$$$$" * 6,  # not base64 at all
        "ключ-" * 9,  # not ASCII
    ],
)
def test_malformed_key_message_does_not_contain_the_key(bad):
    with pytest.raises(ValueError) as err:
        Vault.from_keys([generate_key(), bad])
    message = str(err.value)
    assert "#2" in message  # says which key
    assert bad not in message
    assert bad[:12] not in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_a_bare_key_string_is_one_key():
    key = generate_key()
    assert Vault.from_keys(key).decrypt(Vault.from_keys([key]).encrypt(SECRET)) == SECRET


def test_key_file_is_created_private_and_reused(tmp_path):
    path = tmp_path / "data" / "vault_key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    assert load_or_create_key(path) == key  # the same key next time
    assert Vault.from_keys([key]).enabled
    assert [p.name for p in path.parent.iterdir()] == ["vault_key"]  # no temporary left


def test_damaged_key_file_is_reported_without_its_content(tmp_path):
    path = tmp_path / "vault_key"
    path.write_text("garbage-that-could-be-a-secret\n")
    with pytest.raises(ValueError) as err:
        load_or_create_key(path)
    assert "garbage" not in str(err.value)
    assert str(path) in str(err.value)
