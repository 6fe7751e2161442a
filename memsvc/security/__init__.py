"""Secrets at rest: the knowledge vault's encryption (`memsvc.security.vault`)."""

from memsvc.security.vault import Vault, VaultError, generate_key, load_or_create_key

__all__ = ["Vault", "VaultError", "generate_key", "load_or_create_key"]
