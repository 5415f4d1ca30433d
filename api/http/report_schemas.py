"""marshmallow schemas of the PDF readiness reports: their language, and a cohort's filters."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields as ma
from marshmallow import validate as mv

from api.config import DefaultConfig
from api.http.schemas import LANGUAGES
from scoring.contract import fields as F


class ReportQuerySchema(Schema):
    lang = ma.String(
        load_default="id",
        validate=mv.OneOf(LANGUAGES),
        metadata={"description": "Language of the report: id (Bahasa Indonesia, default) or en."},
    )


class CohortReportQuerySchema(ReportQuerySchema):
    sector = ma.String(
        validate=mv.OneOf(F.SECTORS), metadata={"description": "Only the SMEs of this sector."}
    )
    tier = ma.String(
        validate=mv.Length(min=1, max=50),
        metadata={"description": "Only the SMEs whose latest score has this tier."},
    )


#: The body of a report answer and its type, for the OpenAPI document.
PDF_BODY = {"type": "string", "format": "binary"}
PDF_MEDIA_TYPE = "application/pdf"
#: What a cohort report holds, for the OpenAPI document.
COHORT_LIMIT = (
    f"At most the service's REPORT_MAX_SMES ({DefaultConfig.REPORT_MAX_SMES}) SMEs: a larger "
    "selection is answered 422; ask for one sector or tier at a time."
)
