"""Triage of a referral into a category (pathway-spec.md section 4; clinical-research.md 2.4)."""

from __future__ import annotations

from collections.abc import Collection

from pathway.events import CancerStatus, Category, NeuroFeature, PainFeature


def triage(
    cancer_status: CancerStatus,
    pain_features: Collection[PainFeature],
    neuro_features: Collection[NeuroFeature],
) -> Category:
    """Return the category a referral's facts put it in.

    Known or suspected cancer with any neurological feature is suspected MSCC (an oncological
    emergency); with pain red flags only, suspected spinal metastases (urgent); anything else
    needs a coordinator's review and runs no clocks.
    """
    if cancer_status is CancerStatus.NONE:
        return Category.NEEDS_REVIEW
    if neuro_features:
        return Category.SUSPECTED_MSCC
    if pain_features:
        return Category.SUSPECTED_SPINAL_METASTASES
    return Category.NEEDS_REVIEW
