"""A verified publisher of a benchmark's registry and its key: it signs statements as the publisher's client does.

Every benchmark that registers originals makes its publishers here, so each registers through the same signed path
(`service.register` via `LocalTransport`, or a `PublisherClient`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.client import LocalTransport, PublisherClient, SignedStatement, registration_statement, sign_statement
from registry import publishers
from registry.keys import key_id, raw_public_key
from registry.runtime import Registry


@dataclass(frozen=True, slots=True)
class Signer:
    publisher_id: str
    key: Ed25519PrivateKey

    @classmethod
    def create(cls, registry: Registry, name: str) -> Signer:
        """A new publisher named `name`, verified by the running benchmark, with a fresh key."""
        key = Ed25519PrivateKey.generate()
        with registry.session() as session:
            created = publishers.create_publisher(
                session=session,
                registry=registry,
                name=name,
                public_key=raw_public_key(key),
                verification=publishers.Verification(
                    method="benchmark", evidence=f"bench/{Path(sys.argv[0]).name}", verified_by="bench", expires_at=None
                ),
            )
        return cls(created.id, key)

    @property
    def public_key(self) -> bytes:
        return raw_public_key(self.key)

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def signed(self, content: bytes, title: str) -> SignedStatement:
        """A fresh registration statement for `content`, signed."""
        statement = registration_statement(
            publisher_id=self.publisher_id, key_id=self.key_id, content=content, metadata={"title": title}
        )
        return sign_statement(self.key, statement)

    def register(self, registry: Registry, content: bytes, title: str) -> tuple[str, float]:
        """Sign a statement with the publisher's client and register `content`; seconds inside register()."""
        request = self.signed(content, title)
        start = time.perf_counter()
        view = LocalTransport(registry).register(request, content)
        return view.id, time.perf_counter() - start

    def client(self, registry: Registry) -> PublisherClient:
        return PublisherClient(LocalTransport(registry), publisher_id=self.publisher_id, private_key=self.key)
