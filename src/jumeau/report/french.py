"""The privacy dossier's measured values in French.

The values are the verdicts' own strings (one source for every number), written by
`jumeau.evaluation.verdicts` from a small fixed vocabulary; this table puts that vocabulary into
French and the numbers into French notation (decimal comma, a space before %). A phrase the table
does not know stays in English rather than being guessed; `tests/evaluation/` checks that every
phrase the verdicts write is covered.
"""

from __future__ import annotations

import re

# Longest phrases first ("real sample" must not be translated inside "independent real
# sample"), and a phrase that starts with " of " keeps its space so that it wins over " of "
PHRASES: tuple[tuple[str, str], ...] = (
    (
        " of training patients in groups of fewer than",
        " des patients d'apprentissage dans des groupes de moins de",
    ),
    ("artificial patients in such a group", "patients artificiels dans un tel groupe"),
    (
        "share a profile with several training patients, as",
        "partagent un profil avec plusieurs patients d'apprentissage, comme",
    ),
    (" of real holdout patients do)", " des patients réels mis de côté)"),
    ("independent real sample", "échantillon réel indépendant"),
    ("one-sided 95% lower bound", "borne inférieure unilatérale à 95%"),
    ("no quasi-identifier", "aucun quasi-identifiant"),
    ("independent marginals", "marges indépendantes"),
    ("pooled over", "regroupé sur"),
    ("95 % interval", "intervalle à 95 %"),
    ("real outsiders", "patients réels extérieurs"),
    ("real sample", "échantillon réel"),
    ("exact copies", "copies exactes"),
    ("excess", "excès"),
    ("detection AUC", "AUC de détection"),
    ("DCR share", "part DCR"),
    ("not computed", "non calculé"),
    ("not run", "non exécuté"),
    ("passed", "retenus"),
    ("drawn", "tirés"),
    ("splits", "partitions"),
    ("risk", "risque"),
    (" of ", " sur "),
)
_PATTERN = re.compile("|".join(re.escape(english) for english, _ in PHRASES))
_FRENCH = dict(PHRASES)


def to_french(value: str) -> str:
    """A verdict's value in French words and French number notation."""
    words = _PATTERN.sub(lambda match: _FRENCH[match.group(0)], value)
    words = re.sub(r"(\d), (\d)", r"\1 ; \2", words)  # [0.1, 0.2]: the comma becomes decimal
    words = re.sub(r"(\d)\.(\d)", r"\1,\2", words)
    return re.sub(r"(\d)%", "\\1\u202f%", words)  # a narrow no-break space before %
