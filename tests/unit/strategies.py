"""The vocabulary of the generated pathways (version 1's ``test_properties.py`` and version 2's
``test_properties_v2.py``): coded values, Hypothesis offsets, and one valid event of any type."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

from pathway.events import PathwayEvent
from tests.factories import RULES, event, referral_json

CATEGORIES = ("needs_review", "suspected_spinal_metastases", "suspected_mscc")
PAIN = ("thoracic_or_cervical_pain", "nocturnal_pain", "pain_on_straining")
NEURO = ("limb_weakness", "difficulty_walking", "sensory_loss")
FINDINGS = tuple(f.value for f in RULES.ruleset.findings)
PLANS = (
    "surgery",
    "radiotherapy",
    "surgery_then_radiotherapy",
    "systemic_therapy",
    "best_supportive_care",
)
CLOSING_REASONS = ("treatment_completed", "declined", "died", "transferred", "unfit_for_treatment")

minutes = st.integers(min_value=0, max_value=14 * 24 * 60)
"""An offset from the referral: up to two weeks, zero included (ties at one instant)."""
gaps = st.integers(min_value=0, max_value=3 * 24 * 60)


def _one(type_: str, at: datetime) -> PathwayEvent:
    """A valid event of any type at ``at``, as a feed would send it."""
    data: dict[str, dict[str, object]] = {
        "referral.received": referral_json(at=at)["data"],
        "triage.overridden": {"category": "suspected_mscc", "reason": "review"},
        "neuro.deteriorated": {"neuro_features": ["sensory_loss"]},
        "coordinator.contacted": {"coordinator": "C"},
        "steroids.started": {"drug": "dexamethasone", "dose_mg": 8},
        "steroids.withheld": {"reason": "suspected myeloma"},
        "imaging.requested": {"modality": "mri_whole_spine"},
        "imaging.performed": {"modality": "mri_whole_spine"},
        "imaging.reported": {"finding": "mscc"},
        "specialist.referred": {"service": "bone_sarcoma_centre"},
        "specialist.reviewed": {"service": "bone_sarcoma_centre", "mode": "mdt"},
        "cwt.upgraded": {"by": "Dr Consultant"},
        "breach.explained": {
            "clock": "MRI-MSCC",
            "reason": "other",
            "stage": "imaging",
            "comment": "x",
        },
        "biopsy.requested": {},
        "biopsy.performed": {},
        "histology.reported": {"malignant": False},
        "mdt.listed": {"meeting_at": at.isoformat(), "board": "emergency_virtual"},
        "mdt.decided": {"plan": "radiotherapy", "decision_to_treat": True},
        "diagnosis.communicated": {},
        "treatment.started": {"modality": "radiotherapy", "emergency_without_mdt_reason": "x"},
        "outcome.recorded": {"ambulatory_status": "independent", "at": "discharge"},
        "alert.acknowledged": {"alert_id": "a-9", "by": "consultant"},
        "pathway.closed": {"reason": "died"},
    }
    return event(type_, at, data[type_], event_id=f"late-{type_}")
