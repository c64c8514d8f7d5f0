"""Request and response bodies. Two request shapes share ``POST /rerank``:

* Cohere / Jina: ``{model?, query, documents, top_n?, return_documents, max_tokens_per_doc?, raw_scores}``
  -> ``{id, model, results: [{index, relevance_score, document?}], usage, meta}``;
* text-embeddings-inference (TEI): ``{query, texts, truncate?, raw_scores, return_text}``
  -> ``[{index, score, text?}]``.

A body with a ``texts`` key is TEI's; anything else is read as Cohere/Jina.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StrictStr, Tag, field_validator

LongDocumentStrategy = Literal["truncate", "chunk"]


def _non_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("query must not be empty")
    return value


class Document(BaseModel):
    """A document given as an object: ``text`` is scored, other fields are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    text: StrictStr


class RerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model: str | None = Field(None, description="Accepted for client compatibility; the served model answers.")
    query: StrictStr = Field(..., description="Never truncated.")
    documents: list[StrictStr | Document] = Field(..., description="Strings or objects with a `text` field.")
    top_n: int | None = Field(None, ge=1, description="Return only the best N (default: all).")
    return_documents: bool = False
    max_tokens_per_doc: int | None = Field(None, ge=1, description="Cut each document to this many tokens first.")
    raw_scores: bool = Field(False, description="Logits instead of sigmoid(logit).")
    long_document_strategy: LongDocumentStrategy | None = Field(
        None, description="truncate: drop what does not fit; chunk: overlapping windows, best window's score.")

    _query = field_validator("query")(_non_blank)

    @field_validator("documents", mode="before")
    @classmethod
    def _documents_are_text(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("documents must be a list")
        if not value:
            raise ValueError("documents must not be empty")
        for i, doc in enumerate(value):
            if not (isinstance(doc, str) or (isinstance(doc, dict) and isinstance(doc.get("text"), str))):
                raise ValueError(f"documents[{i}] is not text: expected a string or an object with a string 'text'")
        return value

    def texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class TeiRerankRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    query: StrictStr
    texts: list[StrictStr]
    truncate: bool | None = Field(None, description="Default: the auto_truncate setting (true).")
    truncation_direction: Literal["right", "Right"] = "right"
    raw_scores: bool = False
    return_text: bool = False
    long_document_strategy: LongDocumentStrategy | None = None

    _query = field_validator("query")(_non_blank)

    @field_validator("texts", mode="before")
    @classmethod
    def _texts_are_text(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("texts must be a list")
        if not value:
            raise ValueError("texts must not be empty")
        for i, doc in enumerate(value):
            if not isinstance(doc, str):
                raise ValueError(f"texts[{i}] is not text: expected a string")
        return value


def _request_kind(body: Any) -> str:
    if isinstance(body, dict):
        return "tei" if "texts" in body else "cohere"
    return "tei" if isinstance(body, TeiRerankRequest) else "cohere"


AnyRerankRequest = Annotated[
    Union[Annotated[RerankRequest, Tag("cohere")], Annotated[TeiRerankRequest, Tag("tei")]],
    Discriminator(_request_kind),
]


class DocumentText(BaseModel):
    text: str


class RerankResult(BaseModel):
    index: int = Field(..., description="Position of the document in the request.")
    relevance_score: float
    document: DocumentText | None = None


class Usage(BaseModel):
    total_tokens: int


class RerankMeta(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    model_version: str
    variant: str
    backend: str
    long_document_strategy: LongDocumentStrategy
    truncated_documents: int
    chunked_documents: int


class RerankResponse(BaseModel):
    id: str
    model: str
    results: list[RerankResult]
    usage: Usage
    meta: RerankMeta


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = None


AnyRerankResponse = Union[RerankResponse, list[TeiRank]]


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
