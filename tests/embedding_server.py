"""A real OpenAI-compatible embedding server (POST /v1/embeddings) for tests: uvicorn on
127.0.0.1 in a background thread, vectors from the real local Embedder."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from memsvc.models.embedder import Embedder


class EmbeddingServer:
    """An OpenAI-compatible embedding server backed by the real local model.

    Model `broken` answers 500; model `reversed` lists the vectors in reverse order (legal in
    the OpenAI shape: each carries its index).
    """

    def __init__(self, embedder: Embedder):
        self.embedder = embedder
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/v1/embeddings")
        def embeddings(body: dict[str, Any], request: Request) -> Any:
            self.requests.append({**body, "authorization": request.headers.get("authorization")})
            if body["model"] == "broken":
                return JSONResponse(
                    {"error": {"message": "the model is overloaded", "type": "server_error"}},
                    status_code=500,
                )
            texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
            vectors = self.embedder.embed(texts)
            data = [
                {"object": "embedding", "index": i, "embedding": vector.tolist()}
                for i, vector in enumerate(vectors)
            ]
            if body["model"] == "reversed":
                data.reverse()
            tokens = sum(len(t.split()) for t in texts)
            return {
                "object": "list",
                "data": data,
                "model": body["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> EmbeddingServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the embedding server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
