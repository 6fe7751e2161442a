"""Encryption at rest of knowledge-vault secrets (Fernet: AES-128-CBC + HMAC-SHA256).

Keys come newest first (`MEMSVC_VAULT_KEYS`, comma-separated): the first encrypts, every one
decrypts, so a key is rotated by putting a new one in front, re-encrypting the stored tokens
(`Vault.rotate`), then dropping the old key. Without configured keys, `memsvc serve` keeps a
generated key in the data dir (`load_or_create_key`).

Keys never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class VaultError(Exception):
    """A token that no configured key decrypts: a wrong key, or the token was altered."""


def generate_key() -> str:
    """A new random Fernet key (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode("ascii")


def _fernet(key: str, where: str) -> Fernet:
    try:
        return Fernet(key.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        # The message says where the key came from, never the key: it must not reach a log.
        raise ValueError(
            f"{where} is not a Fernet key (url-safe base64 of 32 bytes, 44 characters; "
            "make one with `python -c 'from memsvc.security import generate_key; "
            "print(generate_key())'`)"
        ) from None


class Vault:
    """Encrypts and decrypts secrets with the configured keys (newest first)."""

    __slots__ = ("_count", "_multi")

    def __init__(self, fernets: Sequence[Fernet] = ()) -> None:
        self._multi = MultiFernet(list(fernets)) if fernets else None
        self._count = len(fernets)

    @classmethod
    def from_keys(cls, keys: Sequence[str]) -> Vault:
        """A vault over these keys; the first encrypts, all decrypt. No keys: disabled.

        Raises ValueError (naming the key's position, never the key) on a malformed key.
        """
        if isinstance(keys, str):  # one key given bare: not a sequence of its characters
            keys = [keys]
        return cls([_fernet(key, f"vault key #{i}") for i, key in enumerate(keys, start=1)])

    @property
    def enabled(self) -> bool:
        return self._multi is not None

    def _require(self) -> MultiFernet:
        if self._multi is None:
            raise VaultError("the vault has no key configured")
        return self._multi

    def encrypt(self, secret: str) -> bytes:
        """The secret encrypted with the newest key (a Fernet token, ASCII bytes)."""
        return self._require().encrypt(secret.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        """The secret in a token made with any configured key; VaultError when none fits."""
        try:
            return self._require().decrypt(token).decode("utf-8")
        except (InvalidToken, TypeError, UnicodeDecodeError):
            raise VaultError(
                "the secret cannot be decrypted with the configured vault keys "
                "(wrong key, or the stored value was altered)"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """The same secret re-encrypted with the newest key (after a new key was added)."""
        try:
            return self._require().rotate(token)
        except (InvalidToken, TypeError):
            raise VaultError(
                "the secret cannot be re-encrypted: no configured vault key decrypts it"
            ) from None

    def __repr__(self) -> str:
        return f"Vault(keys={self._count})"

    __str__ = __repr__


def load_or_create_key(path: Path) -> str:
    """The key kept in `path`, created (a new key, the file readable by its owner only) when
    the file does not exist yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole to a private temporary file, then linked into place: a reader never
        # sees a half-written key, and of two processes starting at once only one key wins.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(generate_key() + "\n")
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: use theirs
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text().strip()
    _fernet(key, f"the vault key in {path}")  # a damaged file is reported, never used
    return key
