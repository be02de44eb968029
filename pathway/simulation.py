"""Synthetic MSCC pathway cohorts for demos, tests and benchmarks: deterministic, test-range patients only.

:func:`simulate_cohort` invents referrals and everything that follows them, as event envelopes of
pathway-spec.md section 2 that the engine accepts: coordinator contact, steroids (sometimes
withheld), MRI or CT (E1), reports that confirm MSCC, confirm metastases or rule them out, MDT
listings and decisions, treatment, biopsies, CWT diagnoses, outcomes and closures. Delays are
drawn so that most clocks are met and some breach (COORD-MSCC, STEROID-MSCC, MRI-MSCC ...), with
upgrades (``neuro.deteriorated``), overrides, deaths, declines and transfers along the way.

Patients are invented: NHS numbers only from the test range 999 000 0000 to 999 999 9999 (valid
Modulus 11, never ten repeated digits), invented names, telephone numbers from Ofcom's drama
range. The module is pure: no I/O, no clock reading, one ``random.Random(seed)``, so the same
arguments always give the same cohort.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, Final

from pathway.engine import AFTER_CLOSING
from pathway.events import EVENT_TYPES
from pathway.nhs_number import nhs_check_digit

_RANK: Final = {name: rank for rank, name in enumerate(EVENT_TYPES)}
_MINUTE: Final = timedelta(minutes=1)
_MIN_GAP: Final = 5
"""Minutes between an event and the one it logically follows, so their order never ties."""

_MSCC: Final = "suspected_mscc"
_METS: Final = "suspected_spinal_metastases"
_NONE_FOUND: Final = "no_spinal_metastases"
_NO_LESION: Final = "no_malignant_spinal_lesion"
"""Version 2's rule-out finding (section 9.1): ``no_spinal_metastases`` is refused there."""
_SARCOMA_HISTOLOGY: Final = ("chordoma", "chondrosarcoma", "osteosarcoma", "ewing")

_GIVEN_FEMALE: Final = (
    "Ailsa", "Brenna", "Carys", "Delphine", "Elspeth", "Fenella", "Greer", "Honor", "Isolde",
    "Jessamy", "Kerensa", "Linnea", "Maren", "Nerys", "Oriel", "Perpetua", "Rosalind", "Saffron",
    "Tamsin", "Wenna",
)  # fmt: skip
_GIVEN_MALE: Final = (
    "Alaric", "Bram", "Caspian", "Dorian", "Emrys", "Fergus", "Gideon", "Hollis", "Idris", "Jago",
    "Kester", "Lorcan", "Merrick", "Nye", "Orrin", "Piran", "Rufus", "Silas", "Tobin", "Wystan",
)  # fmt: skip
_FAMILY: Final = (
    "Ambrey", "Birchmore", "Calloway-Penn", "Darrowby", "Eastleigh", "Fenwright", "Gorsebrook",
    "Hallowdene", "Ivesworth", "Jolliffe-Tarn", "Kestering", "Larkmoor", "Marrowdene",
    "Nettlefield", "Oakenshaw", "Pellingham", "Quarrendon", "Rookwell", "Saltmarsh",
    "Thistlecombe", "Underhay", "Vellacombe", "Wrenfold", "Yarrowby", "Zennor-Blake",
)  # fmt: skip
_ORGANISATIONS: Final = (
    "Hollowmere Medical Practice",
    "Ravensworth Health Centre",
    "Eastbrook Acute Oncology Service",
    "Emergency Department, Kingsmead General Hospital",
    "Westfold Hospice",
    "Oncology Outpatients, Saltmarsh Cancer Centre",
)
_COORDINATORS: Final = (
    "MSCC coordinator (day)",
    "MSCC coordinator (night)",
    "Acute oncology nurse",
)
_PRIMARY_SITES: Final = (
    "breast", "prostate", "lung", "myeloma", "kidney", "colorectal", "lymphoma", "melanoma",
    "bladder",
)  # fmt: skip
_PRIMARY_WEIGHTS: Final = (22, 20, 20, 8, 6, 6, 5, 3, 3)
_PAIN: Final = (
    "thoracic_or_cervical_pain",
    "progressive_lumbar_pain",
    "severe_unremitting_lower_spinal_pain",
    "pain_on_straining",
    "localised_tenderness",
    "nocturnal_pain",
)
_NEURO: Final = (
    "radicular_pain",
    "limb_weakness",
    "difficulty_walking",
    "sensory_loss",
    "bladder_or_bowel_dysfunction",
    "cord_or_cauda_equina_signs",
)
_AMBULATORY: Final = ("independent", "with_aid", "non_ambulatory")
_LEVELS: Final = (
    *(f"C{n}" for n in range(3, 8)),
    *(f"T{n}" for n in range(1, 13)),
    *(f"L{n}" for n in range(1, 6)),
)
_FINDINGS: Final = ("mscc", "spinal_metastases", _NONE_FOUND)
_PLANS: Final = (
    "radiotherapy",
    "surgery_then_radiotherapy",
    "surgery",
    "systemic_therapy",
    "best_supportive_care",
)
_HISTOLOGY: Final = (
    "metastatic adenocarcinoma, lung primary likely",
    "metastatic carcinoma, breast primary",
    "metastatic prostate adenocarcinoma",
    "diffuse large B-cell lymphoma",
    "plasma cell myeloma",
    "metastatic renal cell carcinoma",
)
_BIOPSY_METHODS: Final = ("CT-guided vertebral biopsy", "bone marrow trephine", "core biopsy")
_OVERRIDE_UP: Final = {
    _METS: (
        "red-flag spinal pain on telephone review",
        "history of treated cancer found in the records; thoracic pain",
    ),
    _MSCC: (
        "new leg weakness on telephone review; treat as MSCC until imaged",
        "history of treated cancer found in the records; new sensory loss",
    ),
}
_OVERRIDE_DOWN_REASON: Final = (
    "neurological signs explained by a known peripheral neuropathy; pain features only"
)
_NO_TREATMENT_REASONS: Final = (
    "poor performance status",
    "patient preference after discussion",
    "limited life expectancy",
)
_SOURCES: Final = {
    "referral.received": ("referral-intake", "e-referral"),
    "triage.overridden": ("oncall-consultant", "cordwatch"),
    "neuro.deteriorated": ("ward-nurse", "ward-observations"),
    "coordinator.contacted": ("mscc-coordinator", "cordwatch"),
    "steroids.started": ("pharmacy-feed", "epma"),
    "steroids.withheld": ("pharmacy-feed", "epma"),
    "imaging.requested": ("radiology-feed", "ris"),
    "imaging.performed": ("radiology-feed", "ris"),
    "imaging.reported": ("radiology-feed", "ris"),
    "specialist.referred": ("mscc-coordinator", "cordwatch"),
    "specialist.reviewed": ("mscc-coordinator", "cordwatch"),
    "biopsy.requested": ("radiology-feed", "ris"),
    "biopsy.performed": ("radiology-feed", "ris"),
    "histology.reported": ("pathology-feed", "lims"),
    "mdt.listed": ("mdt-coordinator", "mdt-system"),
    "mdt.decided": ("mdt-coordinator", "mdt-system"),
    "diagnosis.communicated": ("cancer-navigator", "cordwatch"),
    "treatment.started": ("oncology-feed", "oncology-system"),
    "outcome.recorded": ("mscc-coordinator", "cordwatch"),
    "breach.explained": ("mscc-coordinator", "cordwatch"),
    "alert.acknowledged": ("mscc-coordinator", "cordwatch"),
    "pathway.closed": ("mscc-coordinator", "cordwatch"),
}

_Event = tuple[int, int, str, dict[str, Any]]
"""(minutes after the referral, type rank, type, data): a pathway's event before its envelope."""


def _after(minute: int, hours: float) -> int:
    """``hours`` after ``minute``, to the minute, and never less than :data:`_MIN_GAP`."""
    return minute + max(_MIN_GAP, round(hours * 60))


def _lognormal(
    rng: random.Random, median: float, sigma: float, low: float = 0.0, high: float = math.inf
) -> float:
    """A delay with a long right tail (how clinical waits are shaped), clipped to [low, high]."""
    return min(max(rng.lognormvariate(math.log(median), sigma), low), high)


class _Identifiers:
    """Identifiers already given in this cohort, so no two patients share one."""

    def __init__(self) -> None:
        self.nhs_numbers: set[str] = set()
        self.mrns: set[str] = set()

    def nhs_number(self, rng: random.Random) -> str:
        while True:
            stem = f"999{rng.randrange(1_000_000):06d}"
            check = nhs_check_digit(stem)
            number = f"{stem}{check}"
            # Stems with no check digit are never issued; 9999999999 passes Modulus 11 but is a
            # repdigit, which the intake rightly refuses.
            if check is not None and len(set(number)) > 1 and number not in self.nhs_numbers:
                self.nhs_numbers.add(number)
                return number

    def mrn(self, rng: random.Random) -> str:
        while True:
            mrn = f"MRN{rng.randrange(10_000_000):07d}"
            if mrn not in self.mrns:
                self.mrns.add(mrn)
                return mrn


class _Pathway:
    """One pathway's events, built along its clinical course in minutes after the referral."""

    def __init__(
        self, rng: random.Random, referred_at: datetime, cancer_status: str, version: int = 1
    ) -> None:
        self.rng = rng
        self.version = version
        """The ruleset version the events are written for: version 2 has its own findings."""
        self.sins: int | None = None
        self.referred_at = referred_at
        self.cancer_status = cancer_status
        self.ambulatory = "independent"
        # E1: a pacemaker or another MRI contraindication means CT for every scan of the pathway.
        self.ct = rng.random() < 0.04
        self.upgradeable = cancer_status != "none"
        self.events: list[_Event] = []
        self.closing: tuple[int, str] | None = None

    def add(self, minute: int, event_type: str, data: dict[str, Any]) -> int:
        self.events.append((minute, _RANK[event_type], event_type, data))
        return minute

    def iso(self, minute: int) -> str:
        return (self.referred_at + minute * _MINUTE).isoformat()

    def close(self, minute: int, reason: str) -> None:
        """Plan the closure; :meth:`finish` moves it after any milestone still to come."""
        self.closing = (minute, reason)

    def urgent(self, start: int, *, coordinator_done: bool) -> None:
        """Suspected MSCC from ``start`` (referral, upgrade or override): COORD-MSCC,
        STEROID-MSCC and MRI-MSCC run from there."""
        rng = self.rng
        if not coordinator_done:
            coordinator = rng.choice(_COORDINATORS)
            contact = _after(start, _lognormal(rng, 0.4, 0.8))
            self.add(contact, "coordinator.contacted", {"coordinator": coordinator})
        if rng.random() < 0.05:
            # E4: steroids can spoil the biopsy of a lymphoma.
            withheld = _after(start, _lognormal(rng, 1.2, 0.6))
            self.add(withheld, "steroids.withheld", {"reason": "suspected lymphoma"})
        else:
            dose = rng.choice((16.0, 16.0, 16.0, 8.0))
            started = _after(start, _lognormal(rng, 1.8, 0.6))
            self.add(started, "steroids.started", {"drug": "dexamethasone", "dose_mg": dose})
        requested = _after(start, _lognormal(rng, 0.8, 0.7, 0.1, 1.5))
        if rng.random() < 0.88:
            delay = _lognormal(rng, 7.0, 0.7, 2.0, 23.5)
        else:
            delay = rng.uniform(24.5, 40.0)  # MRI-MSCC breaches: no slot, or a transfer
        self.imaging(requested, _after(start, delay), weights=(45, 35, 20))

    def routine(self, start: int, *, coordinator_done: bool) -> None:
        """Suspected spinal metastases from ``start``: COORD-METS, MRI-METS and PLAN-METS."""
        rng = self.rng
        contact = None if coordinator_done else _after(start, _lognormal(rng, 4.0, 1.0, 0.1, 96))
        requested = _after(contact or start, _lognormal(rng, 6.0, 0.8, 0.5, 72))
        performed = _after(start, 24 * _lognormal(rng, 3.5, 0.35, 1.5, 9.5))
        performed = max(performed, requested + 30)
        if self.upgradeable and rng.random() < 0.08:
            # Neurology while waiting for the scan: the MSCC clocks start at the deterioration.
            deteriorated = rng.randint(start + 360, max(start + 361, performed - 120))
            done = coordinator_done
            if contact is not None and contact < deteriorated:
                coordinator = rng.choice(_COORDINATORS)
                self.add(contact, "coordinator.contacted", {"coordinator": coordinator})
                done = True
            if requested < deteriorated:
                self.imaging_request(requested)
            features = self.features(_NEURO, 1, 2)
            self.add(deteriorated, "neuro.deteriorated", {"neuro_features": features})
            self.urgent(deteriorated, coordinator_done=done)
            return
        if contact is not None:
            self.add(contact, "coordinator.contacted", {"coordinator": rng.choice(_COORDINATORS)})
        self.imaging(requested, performed, weights=(10, 55, 35))

    def needs_review(self) -> None:
        """No clocks until a clinician sets a category; some never get one."""
        rng = self.rng
        contact = _after(0, _lognormal(rng, 3.0, 0.8, 0.2, 48))
        self.add(contact, "coordinator.contacted", {"coordinator": rng.choice(_COORDINATORS)})
        if rng.random() < 0.55:
            overridden = _after(contact, _lognormal(rng, 2.0, 0.8, 0.2, 48))
            category = _MSCC if rng.random() < 0.3 else _METS
            reason = rng.choice(_OVERRIDE_UP[category])
            self.add(overridden, "triage.overridden", {"category": category, "reason": reason})
            if category == _MSCC:
                self.urgent(overridden, coordinator_done=True)
            else:
                self.routine(overridden, coordinator_done=True)
        elif rng.random() < 0.6:
            # No spinal cause: back to the GP or another service.
            self.close(_after(contact, _lognormal(rng, 36.0, 0.6)), "transferred")

    def override_down(self) -> None:
        """A clinician finds the neurology explained otherwise: suspected MSCC becomes
        suspected spinal metastases; the MSCC clocks stop (``triage_overridden``)."""
        rng = self.rng
        contact = _after(0, _lognormal(rng, 0.4, 0.8))
        self.add(contact, "coordinator.contacted", {"coordinator": rng.choice(_COORDINATORS)})
        overridden = _after(contact, rng.uniform(0.5, 3.0))
        data = {"category": _METS, "reason": _OVERRIDE_DOWN_REASON}
        self.add(overridden, "triage.overridden", data)
        self.upgradeable = False  # the referral's neurology would upgrade it straight back
        self.routine(overridden, coordinator_done=True)

    def imaging_request(self, minute: int) -> None:
        if self.ct:
            data = {"modality": "ct_whole_spine", "reason": "pacemaker, MRI contraindicated"}
        else:
            data = {"modality": "mri_whole_spine"}
        self.add(minute, "imaging.requested", data)

    def imaging(self, requested: int, performed: int, *, weights: tuple[int, int, int]) -> None:
        rng = self.rng
        self.imaging_request(requested)
        modality = "ct_whole_spine" if self.ct else "mri_whole_spine"
        performed = self.add(
            max(performed, requested + 30), "imaging.performed", {"modality": modality}
        )
        reported = _after(performed, _lognormal(rng, 3.0, 0.7, 1.0, 12.0))
        finding = rng.choices(_FINDINGS, weights)[0]
        if finding == _NONE_FOUND:
            # The engine closes the pathway as ruled_out: nothing may follow but outcomes.
            ruled_out = _NONE_FOUND if self.version == 1 else _NO_LESION
            self.add(reported, "imaging.reported", {"finding": ruled_out})
            return
        first = rng.randrange(len(_LEVELS) - 2)
        levels = _LEVELS[first : first + rng.randint(1, 3)]
        # Section 2.1: one level, or a range from the upper level down (never "T3-T3").
        span = levels[0] if len(levels) == 1 else f"{levels[0]}-{levels[-1]}"
        if self.version >= 2 and finding != "mscc" and self.specialist_route(reported, span):
            return
        data: dict[str, Any] = {"finding": finding, "levels": [span]}
        if self.version >= 2 and finding != "mscc":
            # Section 9.1: version 2 requires the compression answer for a lesion.
            data["cord_compression"] = rng.random() < 0.05
        if rng.random() < 0.8:
            emergency = finding == "mscc"
            data["bilsky_grade"] = rng.choice(("1c", "2", "3") if emergency else ("0", "1a", "1b"))
            data["sins"] = rng.randint(7, 16) if emergency else rng.randint(2, 12)
            self.sins = data["sins"]
        self.add(reported, "imaging.reported", data)
        self.diagnose(reported)
        self.decide(reported, emergency=finding == "mscc")

    def specialist_route(self, reported: int, span: str) -> bool:
        """Version 2: some lesions are a suspected primary bone tumour or a haematological
        malignancy, referred to the specialist service instead of the local MDT (SARC-REFER,
        SARC-REVIEW, HAEM-REFER); a few primary tumours are biopsied locally before the centre's
        review (BIOPSY-GUARD). False, having added nothing, for an ordinary lesion."""
        rng = self.rng
        draw = rng.random()
        if draw >= 0.14:
            return False
        primary = draw < 0.09
        if primary:
            histology = rng.choice(_SARCOMA_HISTOLOGY)
            data = {"finding": "suspected_primary_bone_tumour", "suspected_histology": histology}
            service = "bone_sarcoma_centre"
        else:
            histology = rng.choice(("plasmacytoma_or_myeloma", "lymphoma"))
            data = {
                "finding": "suspected_haematological_malignancy",
                "suspected_histology": histology,
            }
            service = "haematology"
        self.add(reported, "imaging.reported", data | {"levels": [span], "cord_compression": False})
        if rng.random() < 0.85:
            delay = _lognormal(rng, 6.0, 0.7, 0.5, 23.0)
        else:
            delay = rng.uniform(26.0, 72.0)  # SARC-REFER / HAEM-REFER breaches: a weekend
        referred = self.add(_after(reported, delay), "specialist.referred", {"service": service})
        review_days = _lognormal(rng, 7.0, 0.4, 2.0, 21.0) if primary else rng.uniform(1.0, 5.0)
        reviewed = _after(referred, 24 * review_days)
        if primary and rng.random() < 0.25:
            # The harm BIOPSY-GUARD exists for: a local biopsy before the centre has seen it.
            biopsy = rng.randint(referred + _MIN_GAP, max(referred + _MIN_GAP + 1, reviewed - 60))
            self.add(biopsy, "biopsy.requested", {"method": "CT-guided vertebral biopsy"})
        review = {"service": service, "mode": "mdt" if primary else "clinic"}
        if primary:
            review["advice"] = "biopsy_at_treating_centre"
        self.add(reviewed, "specialist.reviewed", review)
        self.close(_after(reviewed, rng.uniform(6.0, 72.0)), "transferred")
        return True

    def diagnose(self, reported: int) -> None:
        """Biopsy and histology for some, and the CWT-FDS diagnosis for suspected cancer."""
        rng = self.rng
        last_report = reported
        if rng.random() < (0.7 if self.cancer_status == "suspected" else 0.05):
            requested = _after(reported, _lognormal(rng, 12.0, 0.6, 1.0, 72.0))
            method = rng.choice(_BIOPSY_METHODS)
            self.add(requested, "biopsy.requested", {"method": method})
            performed = _after(requested, _lognormal(rng, 48.0, 0.5, 6.0, 200.0))
            self.add(performed, "biopsy.performed", {"method": method})
            last_report = _after(performed, _lognormal(rng, 96.0, 0.4, 24.0, 300.0))
            malignant = rng.random() < 0.96
            data: dict[str, Any] = {"malignant": malignant}
            if malignant:
                data["histology"] = rng.choice(_HISTOLOGY)
            self.add(last_report, "histology.reported", data)
        if self.cancer_status == "suspected":
            told = _after(last_report, _lognormal(rng, 96.0, 1.2, 2.0, 40 * 24.0))
            self.add(told, "diagnosis.communicated", {})

    def decide(self, reported: int, *, emergency: bool) -> None:
        """MDT listing and decision (PLAN-MSCC, PLAN-METS), then treatment or closure."""
        rng = self.rng
        if emergency and rng.random() < 0.03:
            # E5: radiotherapy out of hours before any MDT, with the reason recorded.
            started = _after(reported, _lognormal(rng, 4.0, 0.5, 1.0, 12.0))
            reason = "out-of-hours emergency radiotherapy; MDT the next morning"
            data = {"modality": "radiotherapy", "emergency_without_mdt_reason": reason}
            self.add(started, "treatment.started", data)
            listed = _after(started, rng.uniform(1.0, 6.0))
            meeting = _after(listed, rng.uniform(2.0, 8.0))
            listing = {"meeting_at": self.iso(meeting), "board": "emergency_virtual"}
            self.add(listed, "mdt.listed", listing)
            confirmed = {"plan": "radiotherapy", "decision_to_treat": True, "intent": "palliative"}
            self.add(_after(meeting, rng.uniform(0.2, 1.0)), "mdt.decided", confirmed)
            self.close(_after(started, 24 * rng.uniform(1.0, 5.0)), "treatment_completed")
            self.outcome(started, emergency=True)
            return
        if emergency:
            listed = _after(reported, rng.uniform(0.25, 1.5))
            if rng.random() < 0.92:
                wait = _lognormal(rng, 2.0, 0.6, 0.5, 12.0)
            else:
                wait = rng.uniform(20.0, 36.0)  # PLAN-MSCC breaches: the next day's meeting
            meeting = _after(listed, wait)
            board = "emergency_virtual"
            plan = rng.choices(_PLANS, (55, 14, 8, 8, 15))[0]
        else:
            listed = _after(reported, rng.uniform(1.0, 24.0))
            meeting = _after(listed, _lognormal(rng, 30.0, 0.6, 4.0, 150.0))
            board = "spinal" if rng.random() < 0.6 else "site_specific"
            plan = rng.choices(_PLANS, (45, 4, 6, 25, 20))[0]
        self.add(listed, "mdt.listed", {"meeting_at": self.iso(meeting), "board": board})
        if self.version >= 2 and board == "site_specific" and (self.sins or 0) >= 7:
            # SPINE-OPINION: a site-specific board is no spinal opinion; the surgeons advise.
            advised = _after(listed, rng.uniform(2.0, 20.0))
            opinion = {"service": "spinal_surgery", "mode": "telephone_advice"}
            self.add(advised, "specialist.reviewed", opinion)
        decided = _after(meeting, rng.uniform(0.2, 1.5))
        treat = plan != "best_supportive_care"
        decision: dict[str, Any] = {"plan": plan, "decision_to_treat": treat}
        if rng.random() < 0.8:
            curative = plan in {"surgery", "surgery_then_radiotherapy"} and rng.random() < 0.2
            decision["intent"] = "curative" if curative else "palliative"
        if not treat:
            decision["reason"] = rng.choice(_NO_TREATMENT_REASONS)
        self.add(decided, "mdt.decided", decision)
        if not treat:
            reason = "unfit_for_treatment" if rng.random() < 0.7 else "transferred"
            self.close(_after(decided, _lognormal(rng, 48.0, 0.6)), reason)
        elif rng.random() < 0.04:
            self.close(_after(decided, rng.uniform(6.0, 72.0)), "declined")
        else:
            self.treat(plan, decided, emergency=emergency)

    def treat(self, plan: str, decided: int, *, emergency: bool) -> None:
        """RT-24H, SURGERY and CWT-31 run from the decision to treat."""
        rng = self.rng
        if plan == "systemic_therapy":
            first = _after(decided, _lognormal(rng, 7 * 24.0, 0.5, 24.0, 40 * 24.0))
            self.add(first, "treatment.started", {"modality": "systemic_therapy"})
            ends = _after(first, rng.uniform(24.0, 72.0))
        elif plan == "radiotherapy":
            if not emergency:
                delay = _lognormal(rng, 18.0, 0.7, 2.0, 240.0)
            elif rng.random() < 0.9:
                delay = _lognormal(rng, 8.0, 0.6, 1.0, 23.9)
            else:
                delay = rng.uniform(24.5, 60.0)  # RT-24H breaches: planning or machine time
            first = _after(decided, delay)
            self.add(first, "treatment.started", {"modality": "radiotherapy"})
            if self.version >= 2 and emergency and delay > 24.0 and rng.random() < 0.7:
                # Section 9.4: the coordinator records why most breaches happened.
                why = {
                    "clock": "RT-24H",
                    "reason": "radiotherapy_capacity",
                    "stage": "treating_centre",
                }
                self.add(_after(first, rng.uniform(1.0, 48.0)), "breach.explained", why)
            ends = _after(first, 24 * rng.uniform(0.0, 5.0))
        else:
            median = 14.0 if emergency else 22.0
            first = _after(decided, _lognormal(rng, median, 0.45, 3.0, 72.0))
            self.add(first, "treatment.started", {"modality": "surgery"})
            ends = _after(first, 24 * rng.uniform(5.0, 14.0))
            if plan == "surgery_then_radiotherapy":
                # Post-operative radiotherapy once the wound has healed (DEVELOPERS.md notes
                # that RT-24H, as the spec reads, breaches for these plans).
                radiotherapy = _after(first, 24 * rng.uniform(14.0, 28.0))
                self.add(radiotherapy, "treatment.started", {"modality": "radiotherapy"})
                ends = _after(radiotherapy, 24 * rng.uniform(1.0, 5.0))
        self.close(ends, "treatment_completed")
        self.outcome(first, emergency=emergency)

    def outcome(self, treated: int, *, emergency: bool) -> None:
        """Ambulatory status eight weeks after the first treatment (K10), for most."""
        rng = self.rng
        if rng.random() < 0.15:
            return
        before = _AMBULATORY.index(self.ambulatory)
        after = min(2, max(0, before + rng.choices((-1, 0, 1), (25, 55, 20))[0]))
        data: dict[str, Any] = {"ambulatory_status": _AMBULATORY[after], "at": "week_8"}
        if emergency:
            data["frankel_grade"] = ("E", "D", rng.choice(("B", "C")))[after]
        self.add(_after(treated, 24 * rng.uniform(56.0, 59.0)), "outcome.recorded", data)

    def features(self, population: tuple[str, ...], low: int, high: int) -> list[str]:
        chosen = set(self.rng.sample(population, self.rng.randint(low, high)))
        return [f for f in population if f in chosen]

    def finish(self) -> list[_Event]:
        """The closure, any death or transfer, and nothing after the pathway closes."""
        rng = self.rng
        events = self.events
        if self.closing is not None:
            # The closure comes after every milestone (a diagnosis may follow the treatment).
            minute, reason = self.closing
            last = max(e[0] for e in events if e[2] != "outcome.recorded")
            self.add(max(minute, last + 60), "pathway.closed", {"reason": reason})
        events.sort(key=itemgetter(0, 1))
        draw = rng.random()
        if draw < 0.05:
            end = next((e[0] for e in events if _closes(e)), events[-1][0] + 14 * 24 * 60)
            cut = rng.randint(120, max(121, end - _MIN_GAP))
            events = [e for e in events if e[0] < cut]
            reason = "died" if draw < 0.03 else "transferred"
            events.append((cut, _RANK["pathway.closed"], "pathway.closed", {"reason": reason}))
        kept: list[_Event] = []
        closed = False
        for event in events:
            # Late parallel milestones (steroids after a rule-out ...) never happen once closed.
            if not closed or event[2] in AFTER_CLOSING:
                kept.append(event)
            closed = closed or _closes(event)
        return kept


def _closes(event: _Event) -> bool:
    """True for the events that close a pathway: a closure, or a report ruling out metastases."""
    return event[2] == "pathway.closed" or event[3].get("finding") in {_NONE_FOUND, _NO_LESION}


def _referral(
    rng: random.Random, identifiers: _Identifiers, referred_at: datetime, version: int
) -> tuple[_Pathway, str]:
    """The patient, the referral's facts and the triage category they give (section 4)."""
    draw = rng.random()
    category = _MSCC if draw < 0.55 else _METS if draw < 0.90 else "needs_review"
    if category == "needs_review" and rng.random() < 0.5:
        cancer_status = "none"
    else:
        cancer_status = "known" if rng.random() < 0.79 else "suspected"
    pathway = _Pathway(rng, referred_at, cancer_status, version)
    pain: list[str] = []
    neuro: list[str] = []
    if category == _MSCC:
        neuro = pathway.features(_NEURO, 1, 3)
        pain = pathway.features(_PAIN, 0, 3)
        ambulatory_weights = (40, 40, 20)
    elif category == _METS:
        pain = pathway.features(_PAIN, 1, 3)
        ambulatory_weights = (80, 18, 2)
    else:
        # needs_review: features without cancer, or cancer without features.
        if cancer_status == "none" and rng.random() < 0.5:
            neuro = pathway.features(_NEURO, 1, 2)
        elif cancer_status == "none":
            pain = pathway.features(_PAIN, 1, 2)
        ambulatory_weights = (85, 15, 0)
    pathway.ambulatory = rng.choices(_AMBULATORY, ambulatory_weights)[0]

    draw = rng.random()
    sex = "female" if draw < 0.49 else "male" if draw < 0.98 else "unknown"
    given = rng.choice(_GIVEN_MALE if sex == "male" else _GIVEN_FEMALE)
    referred_on = referred_at.date()
    # 35 to 89 years old: 366 days a year at the low end and 365 at the high end allow for leap
    # years either way.
    born = referred_on - timedelta(days=rng.randint(35 * 366, 90 * 365))
    patient: dict[str, Any] = {}
    draw = rng.random()
    if draw >= 0.03:
        patient["nhs_number"] = identifiers.nhs_number(rng)
    if draw < 0.70:
        patient["mrn"] = identifiers.mrn(rng)
    patient |= {
        "given_name": given,
        "family_name": rng.choice(_FAMILY),
        "date_of_birth": born.isoformat(),
        "sex": sex,
    }
    referrer: dict[str, Any] = {
        "name": f"Dr {rng.choice('ABCDEFGHJKLMNPRSTW')}. {rng.choice(_FAMILY)}",
        "organisation": rng.choice(_ORGANISATIONS),
    }
    if rng.random() < 0.8:
        referrer["contact"] = f"01632 960{rng.randrange(1000):03d}"  # Ofcom's drama range
    data: dict[str, Any] = {
        "patient": patient,
        "referrer": referrer,
        "cancer_status": cancer_status,
    }
    if cancer_status == "known":
        data["primary_site"] = rng.choices(_PRIMARY_SITES, _PRIMARY_WEIGHTS)[0]
    elif cancer_status == "suspected" and rng.random() < 0.4:
        data["primary_site"] = "unknown primary"
    data["pain_features"] = pain
    data["neuro_features"] = neuro
    if rng.random() < 0.9:
        data["ambulatory_status"] = pathway.ambulatory
    if rng.random() < 0.7:
        data["symptom_onset"] = (referred_on - timedelta(days=rng.randint(1, 90))).isoformat()
    pathway.add(0, "referral.received", data)
    return pathway, category


def _course(pathway: _Pathway, category: str) -> None:
    if category == _MSCC and pathway.rng.random() < 0.03:
        pathway.override_down()
    elif category == _MSCC:
        pathway.urgent(0, coordinator_done=False)
    elif category == _METS:
        pathway.routine(0, coordinator_done=False)
    else:
        pathway.needs_review()


def simulate_cohort(
    *,
    patients: int,
    seed: int,
    start: datetime,
    span_days: float = 30.0,
    horizon: datetime | None = None,
    version: int = 1,
) -> list[dict[str, Any]]:
    """Events (JSON-ready dicts in the envelope of pathway-spec.md section 2) for a synthetic cohort, sorted by occurred_at.

    About 55 % of referrals are suspected MSCC, 35 % suspected spinal metastases and 10 % need
    review; 75 % have known cancer and 20 % suspected cancer (the CWT clocks). About a quarter of
    scans rule metastases out, which closes the pathway. Each pathway's events are accepted by
    :func:`pathway.engine.admit` in ``occurred_at`` order. Events are whole minutes apart.

    Args:
        patients: how many referrals (one pathway each).
        seed: the seed of the one random generator; the same arguments give the same cohort.
        start: an aware datetime; referrals arrive uniformly over ``[start, start + span_days]``.
        span_days: the length of the referral window, in days.
        horizon: when given, events later than it are dropped, as if the cohort were seen at
            that moment: pathways stay open and their clocks keep running. Event ids do not
            depend on it, so a cohort with a horizon is a subset of the one without.
        version: the ``nice-ng234-2023`` version the events are written for. Version 2 reports
            use its findings (``no_malignant_spinal_lesion``, ``cord_compression`` on every
            lesion), and about 5 % of lesions are suspected primary bone tumours and 3 %
            haematological malignancies, referred to the specialist service (a few biopsied
            locally first: BIOPSY-GUARD); most RT-24H breaches get a ``breach.explained``.
            Version 1 draws exactly as before, so its cohorts are unchanged.

    Returns:
        One dict per event (``event_id`` ``sim-<seed>-<patient>-<k>``, ``pathway``
        ``REF-<seed>-<patient>``, ``type``, ``occurred_at`` in UTC with a ``+00:00`` offset,
        ``recorded_by``, ``source``, ``data``), sorted by ``occurred_at``, ties in pathway order.

    Raises:
        ValueError: ``start`` or ``horizon`` is naive, or ``patients`` or ``span_days`` is
            negative.
    """
    if start.utcoffset() is None or (horizon is not None and horizon.utcoffset() is None):
        raise ValueError("start and horizon must be aware datetimes")
    if patients < 0 or span_days < 0:
        raise ValueError("patients and span_days must not be negative")
    if version not in (1, 2):
        raise ValueError(f"no simulation for ruleset version {version}")
    rng = random.Random(seed)
    identifiers = _Identifiers()
    start = start.astimezone(UTC)
    base = start.replace(second=0, microsecond=0)
    if base < start:
        base += _MINUTE  # whole minutes, none before start
    span_minutes = max(0, math.floor((start + timedelta(days=span_days) - base) / _MINUTE))
    last_minute = math.inf if horizon is None else math.floor((horizon - base) / _MINUTE)

    timed: list[tuple[int, dict[str, Any]]] = []
    for n in range(1, patients + 1):
        offset = rng.randint(0, span_minutes)
        referred_at = base + offset * _MINUTE
        pathway, category = _referral(rng, identifiers, referred_at, version)
        _course(pathway, category)
        reference = f"REF-{seed}-{n:06d}"
        for k, (minute, _rank, event_type, data) in enumerate(pathway.finish()):
            at = offset + minute
            if at > last_minute:
                continue
            recorded_by, source = _SOURCES[event_type]
            envelope = {
                "event_id": f"sim-{seed}-{n:06d}-{k:02d}",
                "pathway": reference,
                "type": event_type,
                "occurred_at": (base + at * _MINUTE).isoformat(),
                "recorded_by": recorded_by,
                "source": source,
                "data": data,
            }
            timed.append((at, envelope))
    timed.sort(key=itemgetter(0))
    return [envelope for _, envelope in timed]
